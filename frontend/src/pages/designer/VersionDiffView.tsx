/**
 * Two versions of a flow (or a version and the draft) side by side: steps added, removed and
 * changed with each field's value before and after, code as a line diff, connections and flow
 * settings. The API says what changed (`diffVersions`); lib/versionDiff makes it readable.
 */
import { useEffect, useId, useMemo, useRef, useState } from "react";
import { api, type ComponentDescriptor, type FlowVersion, type GraphDiff } from "../../api/client";
import { EmptyState, ErrorBanner, Spinner } from "../../components/ui/EmptyState";
import {
  buildVersionDiff,
  formatValue,
  summarizeDiff,
  type FieldChange,
  type LineDiffItem,
  type LooseGraph,
  type NodeSummary,
} from "../../lib/versionDiff";
import "./VersionDiffView.css";

export type DiffTarget = number | "draft";

type Loaded = { diff: GraphDiff; before: LooseGraph; after: LooseGraph };
type State = { kind: "loading" } | { kind: "error"; message: string } | ({ kind: "ready" } & Loaded);

function sideName(target: DiffTarget): string {
  return target === "draft" ? "the draft" : `v${target}`;
}

export function VersionDiffView({
  flowId,
  versions,
  descriptors,
  initialFrom,
  initialTo = "draft",
  prepareDraft,
}: {
  flowId: number;
  /** The flow's published versions, each with its graph. */
  versions: FlowVersion[];
  descriptors: ComponentDescriptor[];
  initialFrom: number;
  initialTo?: DiffTarget;
  /** Called before comparing with the draft (the designer saves pending edits). */
  prepareDraft?: () => Promise<unknown>;
}) {
  const [from, setFrom] = useState(initialFrom);
  const [to, setTo] = useState<DiffTarget>(initialTo);
  const [state, setState] = useState<State>({ kind: "loading" });
  const [attempt, setAttempt] = useState(0);
  const prepare = useRef(prepareDraft);
  prepare.current = prepareDraft;
  const fromId = useId();
  const toId = useId();

  const graphOf = (number: number): LooseGraph => versions.find((v) => v.number === number)?.graph ?? {};
  const versionsKey = versions.map((v) => v.number).join(",");

  useEffect(() => {
    const controller = new AbortController();
    let live = true;
    setState({ kind: "loading" });
    const load = async (): Promise<Loaded> => {
      if (to === "draft") await prepare.current?.();
      const [diff, after] = await Promise.all([
        api.diffVersions(flowId, from, to, controller.signal),
        to === "draft" ? api.getFlow(flowId).then((flow) => flow.graph) : Promise.resolve(graphOf(to)),
      ]);
      return { diff, before: graphOf(from), after };
    };
    load()
      .then((loaded) => live && setState({ kind: "ready", ...loaded }))
      .catch((error: unknown) => {
        if (live) setState({ kind: "error", message: error instanceof Error ? error.message : String(error) });
      });
    return () => {
      live = false;
      controller.abort();
    };
    // graphOf reads `versions`, which versionsKey stands for (a new array of the same
    // versions must not compare again).
  }, [flowId, from, to, attempt, versionsKey]);

  const model = useMemo(
    () => (state.kind === "ready" ? buildVersionDiff(state.diff, state.before, state.after, descriptors) : null),
    [state, descriptors],
  );

  const swap = () => {
    if (to === "draft") return;
    setFrom(to);
    setTo(from);
  };

  return (
    <section className="version-diff" aria-label={`Changes from v${from} to ${sideName(to)}`}>
      <div className="version-diff-bar">
        <label htmlFor={fromId}>From</label>
        <select id={fromId} value={from} onChange={(e) => setFrom(Number(e.target.value))}>
          {versions.map((v) => (
            <option key={v.id} value={v.number}>
              v{v.number}
            </option>
          ))}
        </select>
        <button type="button" className="button button-small" onClick={swap} disabled={to === "draft"} aria-label="Swap the two versions" title="Swap">
          ⇄
        </button>
        <label htmlFor={toId}>To</label>
        <select id={toId} value={String(to)} onChange={(e) => setTo(e.target.value === "draft" ? "draft" : Number(e.target.value))}>
          <option value="draft">Current draft</option>
          {versions.map((v) => (
            <option key={v.id} value={v.number}>
              v{v.number}
            </option>
          ))}
        </select>
        {model && (
          <p className="version-diff-summary" role="status">
            {summarizeDiff(model)}
          </p>
        )}
      </div>

      {state.kind === "error" ? (
        <ErrorBanner message={`The comparison could not be loaded: ${state.message}`} onRetry={() => setAttempt((n) => n + 1)} />
      ) : !model ? (
        <Spinner label="Comparing…" />
      ) : model.empty ? (
        <EmptyState icon="history" title="No differences">
          v{from} and {sideName(to)} define the same flow.
        </EmptyState>
      ) : (
        <div className="version-diff-body">
          <NodeList title="Steps added" kind="added" nodes={model.nodesAdded} />
          <NodeList title="Steps removed" kind="removed" nodes={model.nodesRemoved} />
          {model.nodesChanged.length > 0 && (
            <section aria-labelledby={`${fromId}-changed`}>
              <h3 id={`${fromId}-changed`}>Steps changed ({model.nodesChanged.length})</h3>
              {model.nodesChanged.map((node) => (
                <article key={node.id} className="diff-node" aria-labelledby={`${fromId}-node-${node.id}`}>
                  <h4 id={`${fromId}-node-${node.id}`}>
                    <code>{node.id}</code> <span className="muted">{node.title}</span>
                  </h4>
                  <FieldTable label={`Changes to ${node.id}`} fields={node.fields} />
                </article>
              ))}
            </section>
          )}
          <EdgeList title="Connections added" kind="added" edges={model.edgesAdded} />
          <EdgeList title="Connections removed" kind="removed" edges={model.edgesRemoved} />
          {model.settings.length > 0 && (
            <section aria-labelledby={`${fromId}-settings`}>
              <h3 id={`${fromId}-settings`}>Flow settings ({model.settings.length})</h3>
              <FieldTable label="Changes to the flow settings" fields={model.settings} />
            </section>
          )}
        </div>
      )}
    </section>
  );
}

function Mark({ kind }: { kind: "added" | "removed" }) {
  return (
    <>
      <span className="diff-mark" aria-hidden="true">
        {kind === "added" ? "+" : "−"}
      </span>
      <span className="visually-hidden">{kind}: </span>
    </>
  );
}

function NodeList({ title, kind, nodes }: { title: string; kind: "added" | "removed"; nodes: NodeSummary[] }) {
  const id = useId();
  if (nodes.length === 0) return null;
  return (
    <section aria-labelledby={id}>
      <h3 id={id}>
        {title} ({nodes.length})
      </h3>
      <ul className="diff-list">
        {nodes.map((node) => (
          <li key={node.id} className={`diff-${kind}`}>
            <Mark kind={kind} />
            <code>{node.id}</code> <span className="muted">{node.title}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}

function EdgeList({ title, kind, edges }: { title: string; kind: "added" | "removed"; edges: { source: string; target: string }[] }) {
  const id = useId();
  if (edges.length === 0) return null;
  return (
    <section aria-labelledby={id}>
      <h3 id={id}>
        {title} ({edges.length})
      </h3>
      <ul className="diff-list">
        {edges.map((edge) => (
          <li key={`${edge.source}->${edge.target}`} className={`diff-${kind}`}>
            <Mark kind={kind} />
            <code>{edge.source}</code> <span aria-hidden="true">→</span>
            <span className="visually-hidden"> to </span> <code>{edge.target}</code>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Value({ value, side }: { value: FieldChange["before"]; side: "before" | "after" }) {
  if (value === undefined || value === null) return <span className="diff-unset">not set</span>;
  return <code className={`diff-value diff-${side}`}>{formatValue(value, 400)}</code>;
}

function FieldTable({ label, fields }: { label: string; fields: FieldChange[] }) {
  return (
    <table className="table diff-fields" aria-label={label}>
      <thead>
        <tr>
          <th scope="col">Field</th>
          <th scope="col">Before</th>
          <th scope="col">After</th>
        </tr>
      </thead>
      <tbody>
        {fields.map((field) => (
          <tr key={field.path}>
            <th scope="row">
              {field.label}
              <code className="diff-path">{field.path}</code>
            </th>
            {field.lines ? (
              <td colSpan={2}>
                <LineDiff label={field.label} items={field.lines} />
              </td>
            ) : (
              <>
                <td>
                  <Value value={field.before} side="before" />
                </td>
                <td>
                  <Value value={field.after} side="after" />
                </td>
              </>
            )}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function LineDiff({ label, items }: { label: string; items: LineDiffItem[] }) {
  return (
    <div className="line-diff-scroll" tabIndex={0} role="region" aria-label={`Line changes in ${label}`}>
      <table className="line-diff">
        <thead className="visually-hidden">
          <tr>
            <th scope="col">Old line</th>
            <th scope="col">New line</th>
            <th scope="col">Change</th>
            <th scope="col">Text</th>
          </tr>
        </thead>
        <tbody>
          {items.map((item, index) =>
            item.kind === "skipped" ? (
              <tr key={index} className="line-skipped">
                <td colSpan={4}>
                  ⋯ {item.count} unchanged {item.count === 1 ? "line" : "lines"}
                </td>
              </tr>
            ) : (
              <tr key={index} className={`line-${item.kind}`}>
                <td className="line-number">{item.oldNumber ?? ""}</td>
                <td className="line-number">{item.newNumber ?? ""}</td>
                <td className="line-mark">
                  {item.kind === "same" ? "" : <Mark kind={item.kind} />}
                </td>
                <td className="line-text">{item.text}</td>
              </tr>
            ),
          )}
        </tbody>
      </table>
    </div>
  );
}
