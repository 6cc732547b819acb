// The console's frame: who is signed in (Open WebUI's own session), the sections they
// may see (admins see all; everyone else their generations and queue), and which one
// the address shows (#/servers, #/generations/<id>, …).

import { ApiError, get } from "./api.js";
import { h, replace } from "./ui.js";
import * as generations from "./generations.js";
import * as models from "./models.js";
import * as queue from "./queue.js";
import * as servers from "./servers.js";
import * as workflows from "./workflows.js";

const SECTIONS = [
  { id: "generations", label: "My generations", render: generations.render },
  { id: "my-queue", label: "My queue", render: queue.renderMine },
  { id: "servers", label: "Servers", admin: true, render: servers.render },
  { id: "workflows", label: "Workflows", admin: true, render: workflows.render },
  { id: "models", label: "Models", admin: true, render: models.render },
  { id: "queue", label: "Queue", admin: true, render: queue.renderEveryone },
];

const main = document.getElementById("main");
let me = null;
let stopShown = null;
let shownOnce = false;

async function start() {
  // everyone's first section: its first page is asked for while the session is checked
  if (!location.hash.replace(/^#\/?/, "") || location.hash.startsWith("#/generations"))
    generations.prefetch();
  try {
    me = await get("/api/v1/auths/");
  } catch (error) {
    askToSignIn(error);
    return;
  }
  document.getElementById("who").textContent = me.role === "admin" ? `${me.name} · admin` : me.name;
  window.addEventListener("hashchange", show);
  show();
}

function show() {
  const [wanted, ...args] = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const visible = SECTIONS.filter((section) => !section.admin || me.role === "admin");
  const section = visible.find((each) => each.id === wanted) || visible[0];
  replace(
    document.getElementById("tabs"),
    visible.map((each) =>
      h(
        "a",
        { href: `#/${each.id}`, "aria-current": each === section ? "page" : undefined },
        each.label,
      ),
    ),
  );
  if (stopShown) stopShown();
  document.title = `${section.label} · ComfyUI console`;
  main.replaceChildren();
  stopShown = section.render(main, { me, args }) || null;
  if (shownOnce) main.focus();
  shownOnce = true;
}

function askToSignIn(error) {
  const signedOut = error instanceof ApiError && error.status === 401;
  replace(
    main,
    h("h1", {}, "ComfyUI console"),
    h(
      "p",
      {},
      signedOut ? "Sign in to Open WebUI first; this page uses the same account." : error.message,
    ),
    h("a", { class: "button primary", href: "/auth?redirect=%2Fcomfyui%2F" }, "Sign in"),
  );
}

start();
