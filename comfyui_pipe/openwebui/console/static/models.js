// Models: for each server, what each workflow needs and what is there; downloads of what
// is missing (from a workflow's metadata or a pasted address) with progress, resumed and
// checked; removals; how full each folder is. A server this Open WebUI cannot write to
// is told which file goes in which folder.

import { del, get, post } from "./api.js";
import { ask, bytes, every, h, meter, problem, replace, say } from "./ui.js";

export function render(main) {
  const downloads = h("div", { "aria-live": "polite" });
  const servers = h("div");
  replace(main, h("h1", {}, "Models"), h("h2", {}, "Downloads"), downloads, servers);
  let known = [];

  async function refreshServers() {
    try {
      known = (await get("/models/servers")).servers;
      replace(
        servers,
        known.map((server) => section(server)),
      );
    } catch (error) {
      replace(servers, problem(error.message));
    }
  }

  let running = false;
  async function refreshDownloads() {
    try {
      const { items } = await get("/models/downloads");
      const wasRunning = running;
      running = items.some((item) => item.state === "running");
      const focused = document.activeElement?.dataset?.control;
      replace(
        downloads,
        items.length ? items.map(downloadRow) : h("p", { class: "muted" }, "No download yet."),
      );
      if (focused) downloads.querySelector(`[data-control="${CSS.escape(focused)}"]`)?.focus();
      if (wasRunning && !running) refreshServers();
    } catch (error) {
      replace(downloads, problem(error.message));
    }
  }

  async function start(body) {
    await post("/models/downloads", body);
    say(`Downloading ${body.folder}/${body.filename}.`);
    refreshDownloads();
  }

  function section(server) {
    const missing = server.needs.filter((need) => !need.present);
    const present = server.needs.filter((need) => need.present);
    return h(
      "section",
      { class: "card stack", "aria-labelledby": `models-${server.id}` },
      h(
        "h2",
        { id: `models-${server.id}`, style: "margin:0" },
        `${server.name} `,
        h("span", { class: "muted" }, server.url),
      ),
      !server.reachable && problem(server.error || `${server.name} does not answer.`),
      server.writable
        ? h(
            "p",
            { class: "muted" },
            `Models are written in ${server.models_folder} · ${bytes(server.free_bytes)} free`,
          )
        : h(
            "p",
            {},
            "This Open WebUI cannot write this server's models: put each file below in the folder named, on that server, yourself (or set model_folders).",
          ),
      h("h3", {}, "What the workflows need"),
      missing.length
        ? needTable(server, missing)
        : h("p", {}, "Everything the workflows need is there."),
      present.length > 0 &&
        h(
          "details",
          {},
          h(
            "summary",
            {},
            `There already: ${present.length} file${present.length === 1 ? "" : "s"}`,
          ),
          needTable(server, present),
        ),
      server.writable && pasteForm(server, start),
      h("h3", {}, "Folders"),
      server.folders
        .filter((folder) => folder.files.length)
        .map((folder) => folderView(server, folder, refreshServers)),
    );
  }

  function needTable(server, needs) {
    return h(
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
            h("th", { scope: "col" }, "Workflow"),
            h("th", { scope: "col" }, "File"),
            h("th", { scope: "col" }, "State"),
          ),
        ),
        h(
          "tbody",
          {},
          needs.map((need) => needRow(server, need)),
        ),
      ),
    );
  }

  function needRow(server, need) {
    const place = `${need.folder || "(its folder)"}/${need.filename}`;
    let state;
    if (need.present) state = h("span", { class: "badge ok" }, "There");
    else if (server.writable && need.url && need.folder)
      state = h(
        "button",
        {
          "data-control": `get-${server.id}-${need.folder}-${need.filename}`,
          "aria-label": `Download ${need.filename} to ${server.name}`,
          onclick: () =>
            start({
              server: server.id,
              folder: need.folder,
              filename: need.filename,
              url: need.url,
              sha256: need.sha256,
              size_bytes: need.size_bytes,
            }).catch((error) => say(error.message)),
        },
        "Download",
      );
    else
      state = h(
        "span",
        {},
        h("span", { class: "badge bad" }, "Missing"),
        " ",
        need.url ? `Put it in ${place}: ${need.url}` : `Put it in ${place}.`,
      );
    return h("tr", {}, h("td", {}, need.workflow_title), h("td", {}, place), h("td", {}, state));
  }

  refreshServers();
  return every(1, refreshDownloads);
}

function pasteForm(server, start) {
  const folder = h(
    "select",
    { id: `paste-folder-${server.id}` },
    server.folders.map((each) =>
      h("option", { value: each.name, selected: each.name === "checkpoints" }, each.name),
    ),
  );
  const url = h("input", {
    id: `paste-url-${server.id}`,
    type: "url",
    required: true,
    placeholder: "https://huggingface.co/…/resolve/main/model.safetensors",
  });
  const filename = h("input", {
    id: `paste-name-${server.id}`,
    required: true,
    placeholder: "model.safetensors",
  });
  const sha256 = h("input", {
    id: `paste-sha-${server.id}`,
    placeholder: "optional",
    pattern: "[0-9a-fA-F]{64}",
  });
  const failure = h("div");
  // the file name follows the address until it is typed in
  let named = false;
  filename.addEventListener("input", () => (named = true));
  url.addEventListener("input", () => {
    if (!named) filename.value = decodeURIComponent(url.value.split("?")[0].split("/").pop() || "");
  });
  return h(
    "form",
    {
      class: "stack",
      "aria-label": `Download a model onto ${server.name}`,
      onsubmit: async (event) => {
        event.preventDefault();
        failure.replaceChildren();
        try {
          await start({
            server: server.id,
            folder: folder.value,
            filename: filename.value.trim(),
            url: url.value.trim(),
            sha256: sha256.value.trim() || null,
          });
          event.target.reset();
          named = false;
        } catch (error) {
          failure.append(problem(error.message));
        }
      },
    },
    h("h3", {}, "Download from an address"),
    h(
      "div",
      { class: "row" },
      h(
        "label",
        { class: "field", style: "flex:2 1 18rem" },
        "Direct download address (Hugging Face, Civitai, …)",
        url,
      ),
      h("label", { class: "field" }, "Folder", folder),
      h("label", { class: "field" }, "File name", filename),
      h("label", { class: "field" }, "sha256", sha256),
      h("button", { class: "primary", type: "submit" }, "Download"),
    ),
    failure,
  );
}

function downloadRow(item) {
  const label = `${item.folder}/${item.filename} on ${item.server}`;
  const state = {
    running: h("span", { class: "badge" }, "Downloading"),
    completed: h("span", { class: "badge ok" }, "Done, checked"),
    failed: h("span", { class: "badge bad" }, "Failed"),
    cancelled: h("span", { class: "badge warn" }, "Cancelled"),
    interrupted: h("span", { class: "badge warn" }, "Interrupted"),
  }[item.state];
  return h(
    "div",
    { class: "card stack", "data-download": item.id },
    h("div", { class: "row spread" }, h("strong", {}, label), state),
    item.state === "running" && meter(item.percent ?? 0, `Download of ${label}`),
    h(
      "div",
      { class: "muted" },
      `${bytes(item.received)}${item.size ? ` of ${bytes(item.size)}` : ""}${item.percent !== null ? ` · ${item.percent}%` : ""}`,
    ),
    item.error && problem(item.error),
    h(
      "div",
      { class: "row" },
      item.state === "running" &&
        h(
          "button",
          {
            "data-control": `cancel-${item.id}`,
            onclick: () =>
              post(`/models/downloads/${item.id}/cancel`).catch((error) => say(error.message)),
          },
          "Cancel",
        ),
      ["failed", "cancelled", "interrupted"].includes(item.state) &&
        h(
          "button",
          {
            "data-control": `resume-${item.id}`,
            onclick: () =>
              post("/models/downloads", {
                server: item.server_id,
                folder: item.folder,
                filename: item.filename,
                url: item.url,
                sha256: item.sha256,
              }).then(
                () => say(`Downloading ${item.filename} again.`),
                (error) => say(error.message),
              ),
          },
          "Start again",
        ),
    ),
  );
}

function folderView(server, folder, refresh) {
  return h(
    "details",
    {},
    h(
      "summary",
      {},
      `${folder.name} · ${folder.files.length} file${folder.files.length === 1 ? "" : "s"}${folder.size ? ` · ${bytes(folder.size)} on disk` : ""}`,
    ),
    h(
      "ul",
      {},
      folder.files.map((file) =>
        h(
          "li",
          { class: "row" },
          `${file.name}${file.partial ? " (unfinished download)" : ""}`,
          file.size !== null && h("span", { class: "muted" }, bytes(file.size)),
          server.writable &&
            h(
              "button",
              {
                class: "danger",
                "aria-label": `Remove ${file.name} from ${server.name}`,
                onclick: async () => {
                  if (
                    !(await ask(
                      `Remove ${folder.name}/${file.name} from ${server.name}?`,
                      "Remove",
                    ))
                  )
                    return;
                  try {
                    await del(
                      `/models/files/${server.id}/${folder.name}/${file.name.split("/").map(encodeURIComponent).join("/")}`,
                    );
                    say(`${file.name} removed.`);
                  } catch (error) {
                    say(error.message);
                  }
                  refresh();
                },
              },
              "Remove",
            ),
        ),
      ),
    ),
  );
}
