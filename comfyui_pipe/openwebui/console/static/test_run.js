// A test run of one workflow from the console: a prompt, a run, its progress and
// preview as they come (the job's events), then what it made — or why it made nothing.

import { get, post } from "./api.js";
import { h, meter, problem, replace } from "./ui.js";
import { listenForJobs } from "./events.js";
import { media } from "./media.js";

const ENDED = ["completed", "failed", "cancelled"];

export function testRun(workflow) {
  const prompt = h("input", {
    id: `run-prompt-${workflow.id}`,
    value: "a lighthouse on a cliff at dusk",
  });
  const steps = h("input", {
    id: `run-steps-${workflow.id}`,
    type: "number",
    min: 1,
    value: Math.min(workflow.defaults.steps || 4, 8),
    size: 4,
  });
  const watch = h("div", { class: "stack", "aria-live": "polite" });
  const takesSteps = workflow.parameters.includes("steps");
  return h(
    "form",
    {
      class: "card stack",
      "aria-label": `Test run of ${workflow.title}`,
      onsubmit: async (event) => {
        event.preventDefault();
        const body = { workflow: workflow.id };
        if (workflow.parameters.includes("prompt")) body.prompt = prompt.value;
        if (takesSteps) body.steps = Number(steps.value);
        try {
          follow(await post("/generate", body), watch);
        } catch (error) {
          replace(watch, problem(error.message));
        }
      },
    },
    h(
      "div",
      { class: "row" },
      workflow.parameters.includes("prompt") &&
        h("label", { class: "field", style: "flex:1 1 16rem" }, "Prompt", prompt),
      takesSteps && h("label", { class: "field" }, "Steps", steps),
      h("button", { class: "primary", type: "submit" }, "Run"),
    ),
    watch,
  );
}

function follow(job, watch) {
  const words = h("p", { class: "activity" }, "Queued");
  const bar = h("div");
  const preview = h("img", { class: "preview", alt: "Preview of the run", hidden: true });
  const made = h("div", { class: "row" });
  replace(watch, words, bar, preview, made);
  let ended = false;

  function show(state, percent, description, previewUrl, files, error) {
    if (ended) return;
    replace(bar, meter(percent, "Progress of the test run"));
    words.textContent = error || description || state;
    if (previewUrl) {
      preview.src = previewUrl;
      preview.hidden = false;
    }
    if (!ENDED.includes(state)) return;
    ended = true;
    stopListening();
    clearInterval(polling);
    if (state === "completed") {
      words.textContent = `Done: ${files.length} output${files.length === 1 ? "" : "s"}.`;
      Promise.all(files.map(output)).then((shown) => replace(made, shown));
    } else {
      replace(made, problem(error || `The run ${state}.`));
    }
  }

  const stopListening = listenForJobs((event) => {
    if (event.id === job.id)
      show(
        event.state,
        event.percent,
        event.description,
        event.preview,
        event.output_file_ids || [],
        null,
      );
  });
  const polling = setInterval(async () => {
    const now = await get(`/jobs/${job.id}`).catch(() => null);
    if (now)
      show(
        now.state,
        now.progress ? now.progress.percent : 0,
        now.progress && now.progress.text,
        null,
        now.output_file_ids,
        now.error,
      );
  }, 1000);
  show(job.state, 0, "Queued", null, [], null);
}

async function output(fileId) {
  const item = await get(`/generations/${fileId}`).catch(() => null);
  if (item) return media(item, "preview");
  return h("a", { href: `/api/v1/files/${fileId}/content` }, "What the run made");
}
