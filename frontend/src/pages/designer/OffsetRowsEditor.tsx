/** Partition → offset rows for a replay from explicit offsets. */
import type { OffsetRow, ReplayErrors } from "../../lib/replay";
import { addOffsetRow, removeOffsetRow } from "../../lib/replay";
import { Icon } from "../../components/ui/Icon";

export function OffsetRowsEditor({
  rows,
  errors,
  disabled,
  onChange,
}: {
  rows: OffsetRow[];
  errors: ReplayErrors["rows"];
  disabled?: boolean;
  onChange: (rows: OffsetRow[]) => void;
}) {
  const update = (index: number, patch: Partial<OffsetRow>) => onChange(rows.map((row, i) => (i === index ? { ...row, ...patch } : row)));

  return (
    <div className="offset-rows" role="group" aria-label="Offsets per partition">
      {rows.map((row, index) => {
        const rowErrors = errors?.[index];
        const n = index + 1;
        return (
          <div key={index} className="offset-row">
            <input
              type="text"
              inputMode="numeric"
              aria-label={`Partition, row ${n}`}
              placeholder="partition"
              value={row.partition}
              disabled={disabled}
              aria-invalid={rowErrors?.partition ? true : undefined}
              onChange={(e) => update(index, { partition: e.target.value })}
            />
            <span aria-hidden="true">→</span>
            <input
              type="text"
              inputMode="numeric"
              aria-label={`Offset, row ${n}`}
              placeholder="offset"
              value={row.offset}
              disabled={disabled}
              aria-invalid={rowErrors?.offset ? true : undefined}
              onChange={(e) => update(index, { offset: e.target.value })}
            />
            <button
              type="button"
              className="icon-button"
              aria-label={`Remove row ${n}`}
              title="Remove"
              disabled={disabled}
              onClick={() => onChange(removeOffsetRow(rows, index))}
            >
              <Icon name="close" size={14} />
            </button>
            {rowErrors && (
              <p className="field-error offset-row-error">
                Row {n}: {[rowErrors.partition, rowErrors.offset].filter(Boolean).join("; ")}
              </p>
            )}
          </div>
        );
      })}
      <button type="button" className="button button-small" disabled={disabled} onClick={() => onChange(addOffsetRow(rows))}>
        <Icon name="plus" size={13} /> Add partition
      </button>
    </div>
  );
}
