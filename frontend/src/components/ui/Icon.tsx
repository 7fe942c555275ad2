/** A small inline SVG icon set (no icon font, nothing fetched). */
import type { SVGProps } from "react";

const paths: Record<string, string> = {
  flows: "M4 6h5v4H4zM15 14h5v4h-5zM9 8h3a2 2 0 0 1 2 2v4a2 2 0 0 0 2 2",
  key: "M15 7a4 4 0 1 1-3.9 4.9L4 19v-3h3v-3h3l1.1-1.1A4 4 0 0 1 15 7zM16 9.5h.01",
  logout: "M15 4h3a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-3M10 17l-5-5 5-5M5 12h11",
  plus: "M12 5v14M5 12h14",
  search: "M11 18a7 7 0 1 1 0-14 7 7 0 0 1 0 14zM20 20l-4-4",
  play: "M7 5l12 7-12 7z",
  stop: "M7 7h10v10H7z",
  undo: "M9 14L4 9l5-5M4 9h10a6 6 0 0 1 0 12h-3",
  redo: "M15 14l5-5-5-5M20 9H10a6 6 0 0 0 0 12h3",
  fit: "M4 9V4h5M20 9V4h-5M4 15v5h5M20 15v5h-5",
  zoomIn: "M11 18a7 7 0 1 1 0-14 7 7 0 0 1 0 14zM20 20l-4-4M8 11h6M11 8v6",
  zoomOut: "M11 18a7 7 0 1 1 0-14 7 7 0 0 1 0 14zM20 20l-4-4M8 11h6",
  upload: "M12 16V4M7 9l5-5 5 5M5 20h14",
  history: "M3 12a9 9 0 1 0 3-6.7L3 8M3 3v5h5M12 7v5l3 3",
  trash: "M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3",
  copy: "M9 9h11v11H9zM5 15H4V4h11v1",
  edit: "M4 20h4L19 9l-4-4L4 16zM14 6l4 4",
  close: "M6 6l12 12M18 6L6 18",
  chevronRight: "M9 6l6 6-6 6",
  chevronDown: "M6 9l6 6 6-6",
  back: "M15 18l-6-6 6-6",
  refresh: "M20 11a8 8 0 0 0-14.9-4M4 4v4h4M4 13a8 8 0 0 0 14.9 4M20 20v-4h-4",
  kafka: "M12 4a2 2 0 1 1 0 4 2 2 0 0 1 0-4zM6 16a2 2 0 1 1 0 4 2 2 0 0 1 0-4zM18 16a2 2 0 1 1 0 4 2 2 0 0 1 0-4zM12 8v4M12 12l-5 4.5M12 12l5 4.5",
  code: "M8 7l-5 5 5 5M16 7l5 5-5 5M14 4l-4 16",
  rest: "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM3 12h18M12 3c2.5 3 2.5 15 0 18M12 3c-2.5 3-2.5 15 0 18",
  bloomreach: "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM12 16a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM12 12h.01",
  send: "M4 12l16-8-6 16-3-7z",
  box: "M4 7l8-4 8 4v10l-8 4-8-4zM4 7l8 4 8-4M12 11v10",
  expand: "M4 10V4h6M20 14v6h-6M4 4l6 6M20 20l-6-6",
  collapse: "M10 4v6H4M14 20v-6h6M4 4l6 6M20 20l-6-6",
  alert: "M12 4l9 16H3zM12 10v4M12 17h.01",
  check: "M5 12l5 5 9-10",
  bolt: "M13 3L5 14h6l-1 7 8-11h-6z",
  download: "M12 4v12M7 11l5 5 5-5M5 20h14",
  eye: "M2 12s4-7 10-7 10 7 10 7-4 7-10 7S2 12 2 12zM12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z",
  save: "M5 4h11l3 3v13H5zM8 4v5h7V4M8 20v-6h8v6",
  menu: "M4 7h16M4 12h16M4 17h16",
  settings: "M4 7h10M18 7h2M4 17h4M12 17h8M16 5v4M10 15v4",
  replay: "M11 7l-6 5 6 5zM19 7l-6 5 6 5z",
};

export type IconName = keyof typeof paths;

export function Icon({ name, size = 16, ...rest }: { name: string; size?: number } & SVGProps<SVGSVGElement>) {
  return (
    <svg
      width={size}
      height={size}
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      strokeWidth={1.8}
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden="true"
      focusable="false"
      {...rest}
    >
      <path d={paths[name] ?? paths.box} />
    </svg>
  );
}

/** Icon and accent colour of a component on the palette and the canvas. */
export function componentLook(name: string): { icon: string; color: string } {
  switch (name) {
    case "kafka":
      return { icon: "kafka", color: "#0f766e" };
    case "kafka_produce":
      return { icon: "send", color: "#0e7490" };
    case "code":
      return { icon: "code", color: "#7c3aed" };
    case "rest":
      return { icon: "rest", color: "#2563eb" };
    case "bloomreach":
      return { icon: "bloomreach", color: "#db2777" };
    default:
      return { icon: "box", color: "#475569" };
  }
}
