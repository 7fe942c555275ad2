import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { describe, expect, it, vi } from "vitest";
import type { JSONObject, JSONSchema, JSONValue } from "../../api/types";
import { SchemaForm } from "./SchemaForm";

const schema: JSONSchema = {
  type: "object",
  properties: {
    method: { type: "string", enum: ["GET", "POST"], default: "POST", title: "Method" },
    url: { type: "string", minLength: 1, description: "Where to send" },
    headers: { type: "object", additionalProperties: { type: "string" }, default: {}, title: "Headers" },
    retries: { type: "integer", minimum: 0, maximum: 20, default: 5, title: "Retries" },
    verbose: { type: "boolean", title: "Verbose" },
    password: { type: "string", secret: true, title: "Password" },
  },
  required: ["url"],
};

function Harness({ initial = {}, onChange }: { initial?: JSONObject; onChange?: (key: string, value: JSONValue | undefined) => void }) {
  const [values, setValues] = useState<JSONObject>(initial);
  return (
    <SchemaForm
      schema={schema}
      values={values}
      secretsSet={["password"]}
      errors={{ url: [] }}
      onChange={(key, value) => {
        onChange?.(key, value);
        setValues((current) => {
          const next = { ...current };
          if (value === undefined) delete next[key];
          else next[key] = value;
          return next;
        });
      }}
    />
  );
}

describe("SchemaForm", () => {
  it("labels fields by title, falling back to the key, with the right controls", () => {
    render(<Harness />);
    expect(screen.getByRole("combobox", { name: "Method" })).toHaveValue("POST");
    expect(screen.getByRole("textbox", { name: "url" })).toHaveAccessibleDescription(/Where to send/);
    expect(screen.getByRole("spinbutton", { name: "Retries" })).toHaveAttribute("placeholder", "5");
    expect(screen.getByRole("checkbox", { name: "Verbose" })).not.toBeChecked();
    expect(screen.getByRole("group", { name: "Headers" })).toBeInTheDocument();
  });

  it("reports typed values with the schema's types", async () => {
    const onChange = vi.fn();
    render(<Harness onChange={onChange} />);
    await userEvent.selectOptions(screen.getByRole("combobox", { name: "Method" }), "GET");
    await userEvent.type(screen.getByRole("spinbutton", { name: "Retries" }), "7");
    await userEvent.click(screen.getByRole("checkbox", { name: "Verbose" }));
    expect(onChange).toHaveBeenCalledWith("method", "GET");
    expect(onChange).toHaveBeenCalledWith("retries", 7);
    expect(onChange).toHaveBeenCalledWith("verbose", true);
  });

  it("edits key/value objects", async () => {
    const onChange = vi.fn();
    render(<Harness onChange={onChange} initial={{ headers: { Accept: "application/json" } }} />);
    expect(screen.getByRole("textbox", { name: "Headers name 1" })).toHaveValue("Accept");
    await userEvent.click(screen.getByRole("button", { name: "Add Headers entry" }));
    await userEvent.type(screen.getByRole("textbox", { name: "Headers name 2" }), "X-Id");
    await userEvent.type(screen.getByRole("textbox", { name: "Headers value 2" }), "42");
    expect(onChange).toHaveBeenLastCalledWith("headers", { Accept: "application/json", "X-Id": "42" });
  });

  it("shows server messages and local problems on their field", () => {
    render(
      <SchemaForm schema={schema} values={{ retries: 99 }} errors={{ method: ["not allowed here"] }} onChange={() => {}} />,
    );
    expect(screen.getByRole("combobox", { name: "Method" })).toHaveAccessibleDescription("not allowed here");
    expect(screen.getByRole("textbox", { name: "url" })).toHaveAccessibleDescription(/required/);
    expect(screen.getByRole("spinbutton", { name: "Retries" })).toHaveAccessibleDescription("must be at most 20");
  });

  it("never fills secrets back and says whether they are set", () => {
    render(<Harness initial={{}} />);
    const password = screen.getByLabelText("Password");
    expect(password).toHaveAttribute("type", "password");
    expect(password).toHaveValue("");
    expect(password).toHaveAttribute("placeholder", "set — type to replace");
  });
});
