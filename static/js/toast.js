// Short toasts: htmx responses trigger `showToast` ({"showToast": {"message": "...", "level": "success"}}).
(function () {
  function show(message, level) {
    var area = document.getElementById("toasts");
    if (!area || !message) return;
    var toast = document.createElement("div");
    toast.className = "toast" + (level === "error" ? " error" : "");
    toast.setAttribute("role", level === "error" ? "alert" : "status");
    toast.textContent = message; // text, never HTML
    area.appendChild(toast);
    setTimeout(function () { toast.remove(); }, level === "error" ? 8000 : 3500);
  }
  document.body.addEventListener("showToast", function (event) {
    var detail = event.detail || {};
    show(detail.message || detail.value, detail.level);
  });
  document.body.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    show("The server refused that (" + xhr.status + "). Your work is still on the page.", "error");
  });
  document.body.addEventListener("htmx:sendError", function () {
    show("Network error: nothing was lost; try again when the connection is back.", "error");
  });
  window.flywheelToast = show;
})();
