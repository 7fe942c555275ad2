import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
// React Flow's base styles first, so ours (loaded after) override them.
import "@xyflow/react/dist/style.css";
import "./styles.css";

const root = document.getElementById("root");
if (!root) throw new Error("index.html lacks #root");
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
