// A form control marked data-autosubmit submits its form when changed (the calendar's audience picker).
// A static file, not an inline handler: the pages' Content-Security-Policy runs scripts from /static only.
document.addEventListener("change", (event) => {
  const el = event.target;
  if (el instanceof Element && el.matches("[data-autosubmit]") && el.form) {
    el.form.submit();
  }
});
