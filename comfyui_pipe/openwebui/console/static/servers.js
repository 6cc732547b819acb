// Servers: each ComfyUI with its state, devices and memory, and the jobs it runs now;
// add one, drain one (it finishes its jobs, takes no new one), remove one — no restart.

import { del, get, post, put } from "./api.js";
import { ask, bytes, every, h, meter, problem, replace, say } from "./ui.js";

export function render(main) {
  const list = h("div");
  const failure = h("div");
  const address = h("input", {
    id: "server-url",
    type: "url",
    required: true,
    placeholder: "http://comfyui-2:8188",
    autocomplete: "off",
  });
  const adding = h("div");
  const form = h(
    "form",
    {
      class: "card row",
      onsubmit: async (event) => {
        event.preventDefault();
        adding.replaceChildren();
        try {
          const added = await post("/servers", { url: address.value.trim() });
          address.value = "";
          say(`${added.name} added.`);
          refresh();
        } catch (error) {
          adding.append(problem(error.message));
        }
      },
    },
    h("label", { class: "field", style: "flex:1 1 18rem" }, "Add a ComfyUI server", address),
    h("button", { class: "primary", type: "submit" }, "Add"),
  );
  replace(main, h("h1", {}, "Servers"), form, adding, failure, list);

  async function refresh() {
    try {
      const { servers } = await get("/servers");
      failure.replaceChildren();
      const focused = document.activeElement?.dataset?.control;
      replace(
        list,
        servers.map((server) => card(server, servers)),
      );
      if (focused) list.querySelector(`[data-control="${CSS.escape(focused)}"]`)?.focus();
    } catch (error) {
      replace(failure, problem(error.message));
    }
  }

  function card(server, servers) {
    const state = !server.reachable
      ? h("span", { class: "badge bad" }, "Unreachable")
      : server.drained
        ? h("span", { class: "badge warn" }, "Drained")
        : h("span", { class: "badge ok" }, "Taking jobs");
    const others = servers.filter((each) => each.id !== server.id && !each.drained);
    return h(
      "section",
      { class: "card stack", "aria-labelledby": `server-${server.id}` },
      h(
        "div",
        { class: "row spread" },
        h("h2", { id: `server-${server.id}`, style: "margin:0" }, `${server.name} `, state),
        h(
          "div",
          { class: "row" },
          h(
            "button",
            {
              "data-control": `drain-${server.id}`,
              disabled: !server.drained && !others.length,
              title:
                !server.drained && !others.length
                  ? "At least one server must take new jobs."
                  : undefined,
              onclick: () =>
                act(
                  () => put(`/servers/${server.id}/drain`, { drained: !server.drained }),
                  server.drained
                    ? `${server.name} takes new jobs again.`
                    : `${server.name} is drained: it finishes its jobs and takes no new one.`,
                ),
            },
            server.drained ? "Take jobs again" : "Drain",
          ),
          h(
            "button",
            {
              class: "danger",
              "data-control": `remove-${server.id}`,
              disabled: servers.length === 1,
              onclick: async () => {
                if (
                  !(await ask(
                    `Remove ${server.name} (${server.url})? Its running jobs finish there.`,
                    "Remove",
                  ))
                )
                  return;
                act(() => del(`/servers/${server.id}`), `${server.name} removed.`);
              },
            },
            "Remove",
          ),
        ),
      ),
      h(
        "div",
        { class: "muted" },
        server.url,
        server.version ? ` · ComfyUI ${server.version}` : "",
        server.reachable
          ? ` · ComfyUI queue: ${server.queue_running} running, ${server.queue_pending} waiting`
          : "",
      ),
      server.error && problem(server.error),
      h("div", { class: "grid2" }, server.devices.map(device)),
      server.models_folder &&
        h("div", { class: "muted" }, `Models written here: ${server.models_folder}`),
      h("h3", {}, "Running now"),
      server.jobs.length
        ? h(
            "ul",
            {},
            server.jobs.map((job) =>
              h(
                "li",
                {},
                `${job.workflow} for ${job.owner_name || "someone"} · ${job.activity || job.state} · ${Math.round(job.percent)}%`,
              ),
            ),
          )
        : h("p", { class: "muted" }, "No job of ours."),
    );
  }

  async function act(work, done) {
    try {
      await work();
      say(done);
    } catch (error) {
      say(error.message);
    }
    refresh();
  }

  return every(3, refresh);
}

function device(found) {
  const total = found.vram_total || 0;
  const free = found.vram_free || 0;
  const used = total ? (100 * (total - free)) / total : 0;
  return h(
    "div",
    { class: "stack" },
    h("div", {}, found.name || found.type || "device"),
    total ? meter(used, `Memory used on ${found.name || "device"}`) : null,
    h(
      "div",
      { class: "muted" },
      total ? `${bytes(total - free)} of ${bytes(total)} memory in use` : found.type || "",
    ),
  );
}
