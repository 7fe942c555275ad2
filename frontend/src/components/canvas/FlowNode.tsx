/** The one node component: renders any component from its descriptor data. */
import { Handle, Position, type NodeProps } from "@xyflow/react";
import { memo } from "react";
import { componentLook, Icon } from "../ui/Icon";
import type { FlowNodeType } from "./model";

function FlowNodeView({ data, selected }: NodeProps<FlowNodeType>) {
  const look = componentLook(data.component);
  const invalid = data.problems.length > 0;
  return (
    <div
      className={`flow-node${selected ? " is-selected" : ""}${invalid ? " is-invalid" : ""} kind-${data.kind}`}
      style={{ ["--accent" as string]: look.color }}
      // The read-only canvas of a version view must not shadow the designer's nodes.
      data-testid={data.readOnly ? `version-node-${data.nodeId}` : `node-${data.nodeId}`}
      title={invalid ? data.problems.join("\n") : undefined}
    >
      {data.kind !== "trigger" && (
        <Handle type="target" position={Position.Left} className="flow-handle" isConnectable={!data.readOnly} />
      )}
      <div className="flow-node-icon">
        <Icon name={look.icon} size={20} />
      </div>
      <div className="flow-node-body">
        <div className="flow-node-title">{data.title}</div>
        <div className="flow-node-id">
          {data.nodeId}
          {data.kind === "trigger" && <span className="flow-node-tag"> · trigger</span>}
        </div>
        {data.subtitle && <div className="flow-node-subtitle">{data.subtitle}</div>}
        {invalid && (
          <div className="flow-node-problem" role="note">
            <Icon name="alert" size={12} />
            <span>{data.problems[0]}</span>
            {data.problems.length > 1 && <span> (+{data.problems.length - 1})</span>}
          </div>
        )}
      </div>
      <Handle type="source" position={Position.Right} className="flow-handle" isConnectable={!data.readOnly} />
    </div>
  );
}

export const FlowNode = memo(FlowNodeView);
