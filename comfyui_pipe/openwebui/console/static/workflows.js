// Workflows: drop files (the editor's UI format or API format, several at once) to see
// what each converts to, its parameters, outputs and problems before saving it; every
// workflow with what each server lacks, enabled or not, editable, deletable, and a test
// run with live progress and preview.

import { ApiError, del, get, patch, post, put, query } from "./api.js";
import { ask, h, problem, replace, say } from "./ui.js";
import { testRun } from "./test_run.js";

const MAX_FILE = 8 * 1024 * 1024; // the API's upload limit (a larger body answers 413)

export function render(main) {
  const checks = h("div", { "aria-live": "polite" });
  const catalog = h("div");
  const picker = h("input", {
    id: "workflow-files",
    type: "file",
    multiple: true,
    accept: ".json,application/json",
    onchange: () => {
      checkFiles([...picker.files]);
      picker.value = "";
    },
  });
  const drop = h(
    "div",
    { class: "drop" },
    h(
      "p",
      {},
      "Drop workflow files here — saved from ComfyUI's editor, or exported in API format — or",
    ),
    h("label", { class: "button primary" }, "Choose files", picker),
  );
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    checkFiles([...event.dataTransfer.files]);
  });
  replace(main, h("h1", {}, "Workflows"), drop, checks, h("h2", {}, "All workflows"), catalog);

  async function checkFiles(files) {
    for (const file of files) checks.prepend(await checked(file, refresh));
  }

  async function refresh(again = false) {
    try {
      const workflows = await get(query("/workflows/all", { refresh: again || undefined }));
      replace(
        catalog,
        workflows.map((workflow) => entry(workflow, refresh)),
      );
    } catch (error) {
      replace(catalog, problem(error.message));
    }
  }

  refresh();
}

async function checked(file, refresh) {
  const card = h(
    "section",
    { class: "card stack", "aria-label": `Checked ${file.name}` },
    h("h3", {}, file.name),
  );
  if (file.size > MAX_FILE) {
    card.append(
      problem(
        `${file.name} is ${(file.size / 2 ** 20).toFixed(1)} MiB; a workflow file may have at most 8 MiB. Nothing was saved.`,
      ),
    );
    return card;
  }
  let workflow;
  try {
    workflow = JSON.parse(await file.text());
  } catch (error) {
    card.append(
      problem(`${file.name} is not a JSON workflow (${error.message}). Nothing was saved.`),
    );
    return card;
  }
  if (!workflow || typeof workflow !== "object" || Array.isArray(workflow)) {
    card.append(problem(`${file.name} holds no workflow object. Nothing was saved.`));
    return card;
  }
  const id = idFrom(file.name);
  try {
    card.append(result(await post("/workflows/check", { id, workflow }), refresh));
  } catch (error) {
    card.append(problem(error.message));
  }
  return card;
}

function result(check, refresh) {
  const summary = check.summary;
  const title = h("input", { id: `title-${check.id}`, value: summary ? summary.title : check.id });
  const saving = h("div");
  const onlyModels = check.servers.some((server) => server.reachable && server.problems.length);
  return h(
    "div",
    { class: "stack" },
    h(
      "p",
      {},
      check.format === "ui" ? "Editor (UI) format, converted to an API prompt." : "API format.",
      check.exists ? " Saving replaces the uploaded workflow of this id." : "",
    ),
    check.problems.map(problem),
    summary && details(summary),
    check.models.length > 0 &&
      h(
        "div",
        {},
        h("h3", {}, "Model files it names"),
        h(
          "ul",
          {},
          check.models.map((model) =>
            h("li", {}, `${model.folder}/${model.filename}`, model.url ? ` — ${model.url}` : ""),
          ),
        ),
      ),
    check.servers.map((server) =>
      h(
        "div",
        {},
        h("strong", {}, server.server),
        ": ",
        !server.reachable
          ? "did not answer."
          : server.problems.length
            ? h(
                "ul",
                { class: "problems" },
                server.problems.map((each) => h("li", {}, each)),
              )
            : "has everything it needs.",
      ),
    ),
    check.workflow &&
      h(
        "details",
        {},
        h("summary", {}, "The API prompt"),
        h("pre", {}, JSON.stringify(check.workflow, null, 2)),
      ),
    check.saveable &&
      h(
        "form",
        {
          class: "row",
          onsubmit: async (event) => {
            event.preventDefault();
            saving.replaceChildren();
            try {
              const meta = { title: title.value.trim(), models: check.models };
              await post(
                query("/workflows", { missing_models: onlyModels ? "allow" : undefined }),
                { id: check.id, workflow: check.workflow, meta },
              );
              say(`${title.value.trim() || check.id} saved; it is offered as a chat model.`);
              event.target.replaceWith(h("p", {}, "Saved."));
              refresh();
            } catch (error) {
              saving.append(problem(error.message));
            }
          },
        },
        h("label", { class: "field" }, `Title (id ${check.id})`, title),
        h(
          "button",
          { class: "primary", type: "submit" },
          onlyModels ? "Save; download its models next" : "Save",
        ),
      ),
    saving,
  );
}

function details(workflow) {
  const bounds = Object.entries(workflow.bounds || {}).map(
    ([name, range]) => `${name} ${range.min ?? "…"}–${range.max ?? "…"}`,
  );
  const defaults = Object.entries(workflow.defaults || {}).map(
    ([name, value]) => `${name} ${value}`,
  );
  return h(
    "dl",
    { class: "params" },
    h("dt", {}, "Kind"),
    h("dd", {}, workflow.kind),
    h("dt", {}, "Parameters"),
    h("dd", {}, workflow.parameters.join(", ") || "none"),
    h("dt", {}, "Defaults"),
    h("dd", {}, defaults.join(", ") || "the graph's own"),
    h("dt", {}, "Bounds"),
    h("dd", {}, bounds.join(", ") || "the admin's limits"),
    h("dt", {}, "Makes"),
    h("dd", {}, workflow.outputs.join(", ") || "nothing it saves"),
  );
}

function entry(workflow, refresh) {
  const area = h("div");
  const status = workflow.available
    ? h("span", { class: "badge ok" }, "Available")
    : h("span", { class: "badge bad" }, "Missing something");
  const toggle = h("input", {
    type: "checkbox",
    id: `enabled-${workflow.id}`,
    checked: workflow.enabled,
    onchange: async () => {
      try {
        await put(`/workflows/${workflow.id}/enabled`, { enabled: toggle.checked });
        say(`${workflow.title} ${toggle.checked ? "enabled" : "disabled"}.`);
      } catch (error) {
        toggle.checked = !toggle.checked;
        say(error.message);
      }
    },
  });
  return h(
    "section",
    { class: "card stack", "aria-labelledby": `workflow-${workflow.id}` },
    h(
      "div",
      { class: "row spread" },
      h(
        "h3",
        { id: `workflow-${workflow.id}` },
        workflow.title,
        " ",
        status,
        " ",
        h("span", { class: "muted" }, `${workflow.id} · ${workflow.source}`),
      ),
      h("label", { class: "row" }, toggle, "Enabled"),
    ),
    workflow.description && h("p", { class: "muted" }, workflow.description),
    h(
      "details",
      {},
      h(
        "summary",
        {},
        `${workflow.kind} · makes ${workflow.outputs.join(", ") || "nothing it saves"} · parameters, defaults and bounds`,
      ),
      details(workflow),
    ),
    workflow.servers
      .filter((server) => server.problems.length)
      .map((server) =>
        h(
          "div",
          {},
          h("strong", {}, `${server.server} lacks: `),
          h(
            "ul",
            { class: "problems" },
            server.problems.map((each) => h("li", {}, each)),
          ),
        ),
      ),
    h(
      "div",
      { class: "row" },
      h("button", { onclick: () => replace(area, testRun(workflow)) }, "Test run"),
      workflow.source === "uploaded" &&
        h("button", { onclick: () => replace(area, editor(workflow, refresh)) }, "Edit"),
      h(
        "a",
        {
          class: "button",
          href: `/workspace/models/edit?id=${encodeURIComponent(`comfyui.${workflow.id}`)}`,
        },
        "Who may use it",
      ),
      workflow.source === "uploaded" &&
        h(
          "button",
          {
            class: "danger",
            onclick: async () => {
              if (!(await ask(`Delete ${workflow.title}? Its chat model goes too.`, "Delete")))
                return;
              try {
                await del(`/workflows/${workflow.id}`);
                say(`${workflow.title} deleted.`);
                refresh();
              } catch (error) {
                say(error.message);
              }
            },
          },
          "Delete",
        ),
    ),
    area,
  );
}

function editor(workflow, refresh) {
  const title = h("input", { value: workflow.title });
  const description = h("textarea", { rows: 2 }, workflow.description || "");
  const defaults = h(
    "textarea",
    { rows: 3, spellcheck: "false" },
    JSON.stringify(workflow.defaults, null, 1),
  );
  const bounds = h(
    "textarea",
    { rows: 3, spellcheck: "false" },
    JSON.stringify(workflow.bounds, null, 1),
  );
  const failure = h("div");
  return h(
    "form",
    {
      class: "stack",
      onsubmit: async (event) => {
        event.preventDefault();
        failure.replaceChildren();
        try {
          const body = {
            title: title.value,
            description: description.value,
            defaults: parsed(defaults.value, "Defaults"),
            bounds: parsed(bounds.value, "Bounds"),
          };
          await patch(`/workflows/${workflow.id}`, body);
          say(`${title.value} saved.`);
          refresh();
        } catch (error) {
          failure.append(problem(error.message));
        }
      },
    },
    h("label", { class: "field" }, "Title", title),
    h("label", { class: "field" }, "Description", description),
    h("label", { class: "field" }, 'Defaults (e.g. {"steps": 20, "cfg": 6})', defaults),
    h("label", { class: "field" }, 'Bounds (e.g. {"steps": {"min": 1, "max": 40}})', bounds),
    failure,
    h("button", { class: "primary", type: "submit" }, "Save changes"),
  );
}

function parsed(text, what) {
  try {
    return JSON.parse(text || "{}");
  } catch (error) {
    throw new ApiError(400, `${what} are not JSON: ${error.message}.`);
  }
}

function idFrom(name) {
  const id = name
    .replace(/\.json$/i, "")
    .replace(/[^A-Za-z0-9_]+/g, "_")
    .replace(/^[^A-Za-z_]+/, "")
    .slice(0, 64);
  return id || "workflow";
}
