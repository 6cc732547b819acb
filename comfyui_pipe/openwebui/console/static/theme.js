// Open WebUI's theme, before the first paint: the one its settings keep ("dark",
// "oled-dark", "light" or "system"), following the system when it says so.
(function () {
  var chosen = localStorage.getItem("theme") || "system";
  var dark =
    chosen === "dark" ||
    chosen === "oled-dark" ||
    (chosen !== "light" && window.matchMedia("(prefers-color-scheme: dark)").matches);
  document.documentElement.classList.toggle("dark", dark);
  document.documentElement.classList.toggle("oled", chosen === "oled-dark");
})();
