// One output shown whole, as what it is: an image, a video or a sound with controls, a text.

import { h } from "./ui.js";

export function media(item, className = "large") {
  if (item.kind === "video")
    return h("video", { class: className, src: item.url, controls: true, preload: "metadata" });
  if (item.kind === "audio") return h("audio", { src: item.url, controls: true });
  if (item.kind === "text") return h("pre", {}, item.excerpt || "");
  return h("img", { class: className, src: item.url, alt: item.prompt || item.name });
}
