/**
 * "New from template": the gallery of ready-made flows (GET /templates/). Choosing a card asks
 * for the flow's name and creates the flow from the template; the caller then opens it.
 */
import { useCallback, useEffect, useId, useState } from "react";
import { api, type Flow, type FlowTemplate } from "../../api/client";
import { FlowNameDialog } from "../FlowNameDialog";
import { Dialog } from "../ui/Dialog";
import { ErrorBanner, Spinner } from "../ui/EmptyState";
import { componentLook, Icon } from "../ui/Icon";

/** `base`, or `base (2)`, `base (3)`… — the first not taken (as the server names them). */
export function suggestName(base: string, taken: Iterable<string>): string {
  const names = new Set(taken);
  let name = base;
  for (let n = 2; names.has(name); n++) name = `${base} (${n})`;
  return name;
}

export function TemplateGallery({
  workspaceId,
  takenNames = [],
  onClose,
  onCreated,
}: {
  workspaceId: number | null;
  /** Names of the workspace's flows, so the suggested name is free. */
  takenNames?: string[];
  onClose: () => void;
  onCreated: (flow: Flow) => void;
}) {
  const [templates, setTemplates] = useState<FlowTemplate[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [chosen, setChosen] = useState<FlowTemplate | null>(null);

  const load = useCallback(async () => {
    setError(null);
    try {
      setTemplates(await api.listTemplates());
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  if (chosen) {
    return (
      <FlowNameDialog
        title={`New flow from “${chosen.title}”`}
        initial={suggestName(chosen.flow_name, takenNames)}
        submitLabel="Create"
        // Cancel goes back to the gallery, not out of it.
        onClose={() => setChosen(null)}
        onSubmit={async (name) => onCreated(await api.createFlowFromTemplate(chosen.slug, workspaceId, name))}
      />
    );
  }

  return (
    <Dialog title="New from template" size="large" onClose={onClose} description="Start from a working flow: each template comes with its transform code and sample messages.">
      {error && <ErrorBanner message={`The templates could not be loaded: ${error}`} onRetry={() => void load()} />}
      {templates === null && !error && <Spinner label="Loading templates…" />}
      {templates !== null && (
        <ul className="template-grid" aria-label="Templates">
          {templates.map((template) => (
            <li key={template.slug}>
              <TemplateCard template={template} onChoose={() => setChosen(template)} />
            </li>
          ))}
        </ul>
      )}
    </Dialog>
  );
}

function TemplateCard({ template, onChoose }: { template: FlowTemplate; onChoose: () => void }) {
  const titleId = useId();
  return (
    <article className="template-card" aria-labelledby={titleId}>
      <h3 id={titleId}>{template.title}</h3>
      <p className="template-description">{template.description}</p>
      <ol className="template-chain" aria-label="Steps">
        {template.components.map((component, index) => {
          const look = componentLook(component.name);
          return (
            <li key={index}>
              <span className="template-step" style={{ ["--accent" as string]: look.color }}>
                <Icon name={look.icon} size={14} />
                {component.title}
              </span>
            </li>
          );
        })}
      </ol>
      <div className="template-card-footer">
        <span className="template-tags">
          {template.tags.map((tag) => (
            <span key={tag} className="tag">
              {tag}
            </span>
          ))}
        </span>
        <button type="button" className="button button-primary button-small" aria-label={`Use ${template.title}`} onClick={onChoose}>
          Use template
        </button>
      </div>
    </article>
  );
}
