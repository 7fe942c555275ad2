/**
 * "Flow settings": the flow's error handling (dead-letter topic, what an outage does). Edits go
 * straight into the draft graph, so autosave stores them and Publish ships them; the server's
 * problems with them show on their fields while the dialog is open.
 */
import { useId } from "react";
import type { FlowSettings, GraphProblem } from "../../api/types";
import { Dialog } from "../../components/ui/Dialog";
import { OUTAGE_CHOICES, settingsForm, settingsProblems, topicProblem, type FlowSettingsForm } from "../../lib/flowSettings";

export function FlowSettingsDialog({
  settings,
  problems,
  readOnly = false,
  onChange,
  onClose,
}: {
  settings: FlowSettings | undefined;
  problems: GraphProblem[];
  readOnly?: boolean;
  onChange: (patch: Partial<FlowSettingsForm>) => void;
  onClose: () => void;
}) {
  const id = useId();
  const form = settingsForm(settings);
  const server = settingsProblems(problems);
  const topicMessages = server.fields.dead_letter_topic ?? [];
  const local = topicMessages.length === 0 ? topicProblem(form.deadLetterTopic) : null;
  const topicErrors = local ? [local] : topicMessages;
  const outageErrors = server.fields.on_outage ?? [];
  const others = [
    ...server.general,
    ...Object.entries(server.fields)
      .filter(([key]) => key !== "dead_letter_topic" && key !== "on_outage")
      .flatMap(([key, messages]) => messages.map((m) => `${key}: ${m}`)),
  ];

  return (
    <Dialog
      title="Flow settings"
      size="medium"
      onClose={onClose}
      description="Error handling for the whole flow. Changes are saved with the draft; publish to apply them to the running flow."
      footer={
        <button type="button" className="button button-primary" onClick={onClose}>
          Done
        </button>
      }
    >
      {others.length > 0 && (
        <ul className="form-error" role="alert" aria-label="Problems with the flow settings">
          {others.map((message, index) => (
            <li key={index}>{message}</li>
          ))}
        </ul>
      )}
      <div className={`form-field${topicErrors.length ? " is-invalid" : ""}`}>
        <label htmlFor={`${id}-topic`} className="field-label">
          Dead-letter topic
        </label>
        <input
          id={`${id}-topic`}
          type="text"
          autoComplete="off"
          spellCheck={false}
          placeholder="none"
          value={form.deadLetterTopic}
          disabled={readOnly}
          aria-invalid={topicErrors.length > 0 || undefined}
          aria-describedby={`${id}-topic-hint${topicErrors.length ? ` ${id}-topic-error` : ""}`}
          onChange={(e) => onChange({ deadLetterTopic: e.target.value })}
        />
        <p id={`${id}-topic-hint`} className="field-description">
          Kafka topic that receives each failed message with its error, for inspection or replay. Empty: none.
        </p>
        {topicErrors.length > 0 && (
          <p id={`${id}-topic-error`} className="field-error">
            {topicErrors.join("; ")}
          </p>
        )}
      </div>
      <fieldset className={`form-field choice-group${outageErrors.length ? " is-invalid" : ""}`} aria-describedby={outageErrors.length ? `${id}-outage-error` : undefined}>
        <legend className="field-label">When a destination fails every attempt</legend>
        {OUTAGE_CHOICES.map((choice) => (
          <div key={choice.value} className="choice">
            <input
              id={`${id}-outage-${choice.value}`}
              type="radio"
              name={`${id}-outage`}
              value={choice.value}
              checked={form.onOutage === choice.value}
              disabled={readOnly}
              aria-describedby={`${id}-outage-${choice.value}-hint`}
              onChange={() => onChange({ onOutage: choice.value })}
            />
            <label htmlFor={`${id}-outage-${choice.value}`} className="choice-label">
              {choice.label}
            </label>
            <p id={`${id}-outage-${choice.value}-hint`} className="field-description choice-description">
              {choice.description}
            </p>
          </div>
        ))}
        {outageErrors.length > 0 && (
          <p id={`${id}-outage-error`} className="field-error">
            {outageErrors.join("; ")}
          </p>
        )}
      </fieldset>
      <p className="form-note">Each delivering step has its own retry policy: open the step and see “Retry policy”.</p>
    </Dialog>
  );
}
