// The queue: jobs that have not ended, oldest first — everyone's for an admin (with
// their owners, the server each runs on, its stage and place in line), mine for
// everyone — each with its progress and a button that cancels it.

import { get, post, query } from "./api.js";
import { every, h, meter, problem, replace, say, when } from "./ui.js";
import { listenForJobs } from "./events.js";

export function renderEveryone(main) {
  return render(main, { everyone: true, title: "Queue", stop: "Cancel" });
}

export function renderMine(main) {
  return render(main, { everyone: false, title: "My queue", stop: "Stop" });
}

function render(main, { everyone, title, stop }) {
  const body = h("div");
  const failure = h("div");
  replace(main, h("h1", {}, title), failure, body);
  let items = [];

  async function refresh() {
    try {
      items = (await get(query("/queue", { all: everyone || undefined }))).items;
      failure.replaceChildren();
    } catch (error) {
      replace(failure, problem(error.message));
      return;
    }
    show();
  }

  function show() {
    // redrawn every refresh: the keyboard's place stays on the same job's button
    const focused = document.activeElement?.closest?.("tr[data-job]")?.dataset.job;
    draw();
    if (focused) body.querySelector(`tr[data-job="${CSS.escape(focused)}"] button`)?.focus();
  }

  function draw() {
    if (!items.length) {
      replace(
        body,
        h(
          "p",
          { class: "muted" },
          everyone ? "No job is waiting or running." : "You have no job waiting or running.",
        ),
      );
      return;
    }
    replace(
      body,
      h(
        "div",
        { class: "scroll" },
        h(
          "table",
          {},
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              everyone && h("th", { scope: "col" }, "Who"),
              h("th", { scope: "col" }, "Workflow"),
              h("th", { scope: "col", class: "hide-narrow" }, "Prompt"),
              h("th", { scope: "col" }, "Where"),
              h("th", { scope: "col" }, "Progress"),
              h("th", { scope: "col" }, h("span", { class: "muted" }, "Action")),
            ),
          ),
          h(
            "tbody",
            {},
            items.map((item) => row(item)),
          ),
        ),
      ),
    );
  }

  function row(item) {
    const where = item.server
      ? `${item.server} · ${item.activity || item.stage || item.state}`
      : `waiting · ${item.place ? `#${item.place} in line` : "in line"}`;
    const label = `${item.workflow}: ${item.prompt || item.id}`;
    return h(
      "tr",
      { "data-job": item.id },
      everyone && h("td", {}, item.owner_name || item.owner_id),
      h("td", {}, item.workflow, h("div", { class: "muted" }, when(item.created_at))),
      h("td", { class: "hide-narrow" }, item.prompt || ""),
      h("td", {}, where),
      h(
        "td",
        { style: "min-width:7rem" },
        meter(item.percent, `Progress of ${label}`),
        h("span", { class: "muted" }, `${Math.round(item.percent)}%`),
      ),
      h(
        "td",
        {},
        h(
          "button",
          {
            class: "danger",
            "aria-label": `${stop} ${label}`,
            onclick: async (event) => {
              event.currentTarget.disabled = true;
              try {
                await post(`/jobs/${encodeURIComponent(item.id)}/cancel`);
                say(
                  `Cancelled ${item.workflow}${item.owner_name && everyone ? ` of ${item.owner_name}` : ""}.`,
                );
              } catch (error) {
                say(error.message);
              }
              refresh();
            },
          },
          stop,
        ),
      ),
    );
  }

  const stopPolling = every(1.5, refresh);
  const stopListening = listenForJobs((job) => {
    const item = items.find((each) => each.id === job.id);
    if (!item) return;
    Object.assign(item, {
      percent: job.percent,
      activity: job.phase || item.activity,
      stage: job.stage,
    });
    show();
  });
  return () => {
    stopPolling();
    stopListening();
  };
}
