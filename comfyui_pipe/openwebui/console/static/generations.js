// My generations: everything I made, newest first, a page at a time as the grid scrolls,
// new ones added as they are stored; filters; one opened large with what made it, its
// chat, re-run, vary, download and delete.

import { ApiError, del, get, post, query } from "./api.js";
import { ask, bytes, every, h, problem, replace, say, when } from "./ui.js";
import { media } from "./media.js";
import { listen } from "./events.js";

const PAGE = 60;
const KINDS = [
  ["", "All kinds"],
  ["image", "Images"],
  ["animated", "Animated"],
  ["video", "Videos"],
  ["audio", "Sound"],
  ["text", "Text"],
];
const FIELDS = [
  "prompt",
  "negative_prompt",
  "width",
  "height",
  "steps",
  "cfg",
  "seed",
  "count",
  "loras",
];

let prefetched = null;

// The first page, unfiltered, asked for before the section is drawn (see app.js).
export function prefetch() {
  prefetched = get(query("/generations", { limit: PAGE }));
  prefetched.catch(() => {});
}

export function render(main, { args }) {
  const filters = { q: "", workflow: "", kind: "" };
  const shown = new Map();
  let next;
  let loading = false;
  let workflows = [];

  const grid = h("div", { class: "gallery", role: "list", "aria-label": "My generations" });
  const empty = h(
    "p",
    { class: "muted", hidden: true },
    "Nothing here yet: what you make appears here.",
  );
  const sentinel = h("div", { class: "sentinel" });
  const workflowChoice = h(
    "select",
    { id: "filter-workflow", onchange: () => refilter("workflow", workflowChoice.value) },
    h("option", { value: "" }, "All workflows"),
  );
  const kindChoice = h(
    "select",
    { id: "filter-kind", onchange: () => refilter("kind", kindChoice.value) },
    KINDS.map(([value, label]) => h("option", { value }, label)),
  );
  let typing = null;
  const search = h("input", {
    id: "filter-text",
    type: "search",
    placeholder: "Words of the prompt",
    oninput: () => {
      clearTimeout(typing);
      typing = setTimeout(() => refilter("q", search.value.trim()), 250);
    },
  });
  replace(
    main,
    h("h1", {}, "My generations"),
    h(
      "div",
      { class: "filters", role: "search" },
      h("label", { class: "field" }, "Search", search),
      h("label", { class: "field" }, "Workflow", workflowChoice),
      h("label", { class: "field" }, "Kind", kindChoice),
    ),
    empty,
    grid,
    sentinel,
  );

  get("/workflows").then(
    (found) => {
      workflows = found;
      workflowChoice.append(...found.map((each) => h("option", { value: each.id }, each.title)));
    },
    () => {},
  );

  function params(extra) {
    return { limit: PAGE, q: filters.q, workflow: filters.workflow, kind: filters.kind, ...extra };
  }

  async function more() {
    if (loading || next === null) return;
    loading = true;
    try {
      const first = next === undefined;
      const asked = first && prefetched && !filters.q && !filters.workflow && !filters.kind;
      const page = await (asked ? prefetched : get(query("/generations", params({ after: next }))));
      prefetched = null;
      next = page.next;
      grid.append(...page.items.filter((item) => !shown.has(item.id)).map(tile));
      empty.hidden = shown.size > 0;
      if (first) performance.mark("comfyui:first-page");
    } catch (error) {
      say(error.message);
    } finally {
      loading = false;
    }
    if (next !== null && sentinel.getBoundingClientRect().top < innerHeight + 400) more();
  }

  let looking = null;
  function newest() {
    // one look at a time: an ending heard while looking is looked at once more after
    looking = (looking || Promise.resolve()).then(async () => {
      if (next === undefined) return;
      const page = await get(query("/generations", params({ limit: 20 }))).catch(() => null);
      const fresh = (page ? page.items : []).filter((item) => !shown.has(item.id));
      if (!fresh.length) return;
      grid.prepend(...fresh.map(tile));
      empty.hidden = true;
    });
    return looking;
  }

  function refilter(name, value) {
    filters[name] = value;
    shown.clear();
    grid.replaceChildren();
    next = undefined;
    more();
  }

  function tile(item) {
    const cell = h(
      "div",
      { role: "listitem" },
      h(
        "button",
        {
          class: "tile",
          "aria-label": `${kindName(item.kind)}: ${item.prompt || item.name}`,
          "data-id": item.id,
          onclick: () => open(item.id),
        },
        face(item),
        ["video", "animated", "gif", "audio"].includes(item.kind) &&
          h("span", { class: "kind", "aria-hidden": "true" }, kindName(item.kind)),
      ),
    );
    shown.set(item.id, cell);
    return cell;
  }

  async function open(id) {
    let item;
    try {
      item = await get(`/generations/${encodeURIComponent(id)}`);
    } catch (error) {
      say(
        error instanceof ApiError && error.status === 404
          ? "That generation is not yours or is gone."
          : error.message,
      );
      return;
    }
    showLarge(item, {
      rerun: (vary) => rerun(item, vary),
      remove: async () => {
        await del(`/generations/${encodeURIComponent(item.id)}`);
        shown.get(item.id)?.remove();
        shown.delete(item.id);
        say(`${item.name} was deleted.`);
      },
    });
  }

  async function rerun(item, vary) {
    const workflow = workflows.find((each) => each.id === item.workflow);
    if (!workflow) throw new ApiError(404, "That workflow is not offered to you any more.");
    const body = { workflow: item.workflow };
    for (const field of FIELDS) {
      if (!workflow.parameters.includes(field) || item.params[field] === undefined) continue;
      if (field === "seed" && vary) continue;
      body[field] = item.params[field];
    }
    if (workflow.parameters.includes("images")) {
      throw new ApiError(400, "This one was made from an image: re-run it from its chat.");
    }
    await post("/generate", body);
    say(
      vary
        ? "A variation is on its way; it appears here when done."
        : "Started again; it appears here when done.",
    );
  }

  const observer = new IntersectionObserver(
    (entries) => entries.some((entry) => entry.isIntersecting) && more(),
    { rootMargin: "400px" },
  );
  observer.observe(sentinel);
  more();
  const stopPolling = every(1, newest, { later: true });
  // an ending heard from the room is looked at at once (the polling is for the rest)
  const stopListening = listen((event) => {
    const ended =
      event.type === "comfyui:job"
        ? event.data.state === "completed"
        : event.type === "status" && event.data && event.data.done;
    if (ended) newest();
  });
  if (args[0]) open(args[0]);
  return () => {
    observer.disconnect();
    stopPolling();
    stopListening();
  };
}

function face(item) {
  if (item.thumbnail_url) {
    return h("img", {
      src: item.thumbnail_url,
      alt: "",
      loading: "lazy",
      decoding: "async",
      width: 176,
      height: 176,
    });
  }
  if (item.kind === "text") return h("div", { class: "text" }, item.excerpt || item.name);
  if (item.kind === "audio") return h("div", { class: "audio", "aria-hidden": "true" }, "♪");
  return h("div", { class: "text" }, item.name);
}

function kindName(kind) {
  return (
    {
      image: "Image",
      gif: "GIF",
      animated: "Animated",
      video: "Video",
      audio: "Sound",
      text: "Text",
    }[kind] || kind
  );
}

function showLarge(item, { rerun, remove }) {
  const failure = h("div");
  async function attempt(work) {
    failure.replaceChildren();
    try {
      await work();
    } catch (error) {
      failure.append(problem(error.message));
    }
  }
  const details = Object.entries(item.params || {}).filter(
    ([, value]) => value !== null && typeof value !== "object",
  );
  const dialog = h(
    "dialog",
    { "aria-labelledby": "large-title" },
    media(item),
    h("h2", { id: "large-title" }, item.prompt || item.name),
    h(
      "p",
      { class: "muted" },
      `${item.workflow} · ${kindName(item.kind)} · ${item.width ? `${item.width}×${item.height} · ` : ""}${bytes(item.size)} · ${when(item.created_at)}`,
    ),
    h(
      "dl",
      { class: "params" },
      details.map(([name, value]) => [h("dt", {}, name), h("dd", {}, String(value))]),
    ),
    failure,
    h(
      "div",
      { class: "row" },
      item.chat_url && h("a", { class: "button", href: item.chat_url }, "Open its chat"),
      h("button", { onclick: () => attempt(() => rerun(false)) }, "Re-run"),
      h("button", { onclick: () => attempt(() => rerun(true)) }, "Vary"),
      h("a", { class: "button", href: item.url, download: item.name }, "Download"),
      h(
        "button",
        {
          class: "danger",
          onclick: () =>
            attempt(async () => {
              if (!(await ask(`Delete ${item.name}? It leaves your files and its chat.`, "Delete")))
                return;
              await remove();
              close();
            }),
        },
        "Delete",
      ),
      h("button", { onclick: () => close() }, "Close"),
    ),
  );
  function close() {
    dialog.close();
    dialog.remove();
    if (location.hash.startsWith("#/generations/")) history.replaceState(null, "", "#/generations");
  }
  dialog.addEventListener("cancel", (event) => {
    event.preventDefault();
    close();
  });
  document.body.append(dialog);
  dialog.showModal();
}
