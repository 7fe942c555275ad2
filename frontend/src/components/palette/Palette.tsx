/**
 * The component palette: searchable, grouped Triggers/Actions. Items are dragged onto the
 * canvas, or activated by click/Enter to add the node without a mouse.
 */
import { useMemo, useState, type DragEvent } from "react";
import type { ComponentDescriptor } from "../../api/types";
import { COMPONENT_MIME } from "../canvas/model";
import { componentLook, Icon } from "../ui/Icon";

export function filterComponents(components: ComponentDescriptor[], query: string): ComponentDescriptor[] {
  const q = query.trim().toLowerCase();
  if (!q) return components;
  return components.filter((c) => `${c.title} ${c.name} ${c.description}`.toLowerCase().includes(q));
}

export function Palette({
  components,
  onAdd,
  disabled = false,
  hasTrigger = false,
}: {
  components: ComponentDescriptor[];
  onAdd: (component: ComponentDescriptor) => void;
  disabled?: boolean;
  /** A flow has one trigger: say so on the trigger items once it has one. */
  hasTrigger?: boolean;
}) {
  const [query, setQuery] = useState("");
  const shown = useMemo(() => filterComponents(components, query), [components, query]);
  const groups: { label: string; items: ComponentDescriptor[] }[] = [
    { label: "Triggers", items: shown.filter((c) => c.kind === "trigger") },
    { label: "Actions", items: shown.filter((c) => c.kind !== "trigger") },
  ];

  const onDragStart = (event: DragEvent, component: ComponentDescriptor) => {
    event.dataTransfer.setData(COMPONENT_MIME, component.name);
    event.dataTransfer.setData("text/plain", component.name);
    event.dataTransfer.effectAllowed = "copy";
  };

  return (
    <aside className="palette" role="region" aria-label="Components">
      <div className="palette-search">
        <Icon name="search" />
        <input
          type="search"
          aria-label="Search components"
          placeholder="Search…"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
        />
      </div>
      <div className="palette-groups">
        {groups.map((group) => (
          <section key={group.label} className="palette-group" aria-label={group.label}>
            <h3>{group.label}</h3>
            {group.items.length === 0 && <p className="palette-none">{query ? "No match" : "None installed"}</p>}
            <ul>
              {group.items.map((component) => {
                const look = componentLook(component.name);
                return (
                  <li key={component.name}>
                    <div
                      role="button"
                      tabIndex={disabled ? -1 : 0}
                      aria-disabled={disabled || undefined}
                      aria-label={component.title}
                      className="palette-item"
                      draggable={!disabled}
                      title={
                        component.kind === "trigger" && hasTrigger
                          ? "This flow has its trigger already; a flow starts from exactly one."
                          : `${component.description}\n\nDrag onto the canvas, or press Enter to add.`
                      }
                      style={{ ["--accent" as string]: look.color }}
                      onDragStart={(e) => onDragStart(e, component)}
                      onClick={() => !disabled && onAdd(component)}
                      onKeyDown={(e) => {
                        if (disabled) return;
                        if (e.key === "Enter" || e.key === " ") {
                          e.preventDefault();
                          onAdd(component);
                        }
                      }}
                    >
                      <span className="palette-icon" aria-hidden="true">
                        <Icon name={look.icon} size={18} />
                      </span>
                      <span className="palette-text" aria-hidden="true">
                        <span className="palette-title">{component.title}</span>
                        <span className="palette-description">{component.description}</span>
                      </span>
                    </div>
                  </li>
                );
              })}
            </ul>
          </section>
        ))}
      </div>
      <p className="palette-hint">Drag a component onto the canvas, or select it and press Enter.</p>
    </aside>
  );
}
