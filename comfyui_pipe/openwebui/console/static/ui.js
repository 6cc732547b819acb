// Small helpers for building the page: elements, sentences for the user, numbers in words.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2).toLowerCase(), value);
    else if (name === "class") element.className = value;
    else if (name === "style")
      element.style.cssText = value; // CSSOM: the page's CSP allows it
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

export function say(sentence) {
  const toast = document.getElementById("toast");
  const line = h("p", {}, sentence);
  toast.append(line);
  setTimeout(() => line.remove(), 6000);
}

export function problem(sentence) {
  return h("p", { class: "sentence", role: "alert" }, sentence);
}

export function bytes(size) {
  if (size === null || size === undefined) return "";
  const units = [
    ["TB", 1e12],
    ["GB", 1e9],
    ["MB", 1e6],
    ["kB", 1e3],
  ];
  for (const [unit, scale] of units)
    if (size >= scale) return `${(size / scale).toFixed(1)} ${unit}`;
  return `${size} B`;
}

export function when(iso) {
  const seconds = (Date.now() - new Date(iso).getTime()) / 1000;
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

export function meter(percent, label) {
  const value = Math.max(0, Math.min(100, percent || 0));
  return h(
    "div",
    {
      class: "meter",
      role: "progressbar",
      "aria-label": label,
      "aria-valuemin": 0,
      "aria-valuemax": 100,
      "aria-valuenow": Math.round(value),
    },
    h("span", { style: `width:${value}%` }),
  );
}

// A question answered with a button: true for the confirming one.
export function ask(question, confirm) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { "aria-label": question },
      h("p", {}, question),
      h(
        "div",
        { class: "row" },
        h("button", { class: "danger", onclick: () => close(true) }, confirm),
        h("button", { onclick: () => close(false) }, "Keep it"),
      ),
    );
    function close(answer) {
      dialog.close();
      dialog.remove();
      resolve(answer);
    }
    dialog.addEventListener("cancel", () => close(false));
    document.body.append(dialog);
    dialog.showModal();
  });
}

// Runs ``work`` now (or first after ``seconds``, with ``later``) and every ``seconds``
// while the section is shown; returns its stop.
export function every(seconds, work, { later = false } = {}) {
  let stopped = false;
  let timer = null;
  async function tick() {
    if (stopped) return;
    try {
      await work();
    } finally {
      if (!stopped) timer = setTimeout(tick, seconds * 1000);
    }
  }
  if (later) timer = setTimeout(tick, seconds * 1000);
  else tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

export function replace(container, ...children) {
  container.replaceChildren(...children.flat(Infinity).filter(Boolean));
}
