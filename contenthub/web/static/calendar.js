/* Weekly calendar: drag a slot to another day or channel (move) or onto another slot (trade places);
   the keyboard does the same: focus a slot, press Space to pick it up, Tab to a day cell or another slot,
   Enter or Space to drop it there, Escape to cancel. Every drop posts one of the page's own forms
   (CSRF token included), so a refusal shows the slot page with the reason and an override, like any edit.
   No inline script: the Content-Security-Policy allows scripts from /static only. */
(function () {
  "use strict";

  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  var grid = document.getElementById("calendar-grid");
  var moveForm = document.getElementById("dnd-move");
  var swapForm = document.getElementById("dnd-swap");
  var status = document.getElementById("dnd-status");
  if (!grid || !moveForm || !swapForm) { return; }

  var picked = null;

  function say(text) { if (status) { status.textContent = text; } }

  function post(form, slotId, fields) {
    form.action = form.dataset.action.replace("ID", encodeURIComponent(slotId));
    Object.keys(fields).forEach(function (name) { form.elements[name].value = fields[name]; });
    form.submit();
  }

  function moveTo(slot, cell) {
    if (!cell.classList.contains("drop")) { return false; }
    var sameChannel = cell.dataset.channel === slot.dataset.channel;
    var sameDay = cell.contains(slot);
    if (sameChannel && sameDay) { return false; }
    post(moveForm, slot.dataset.slotId, {
      start: cell.dataset.date + "T" + slot.dataset.time,
      channel: sameChannel ? "" : cell.dataset.channel,
    });
    return true;
  }

  function swapWith(slot, other) {
    if (other === slot || !other.classList.contains("movable")) { return false; }
    post(swapForm, slot.dataset.slotId, { other: other.dataset.slotId });
    return true;
  }

  function drop(slot, target) {
    var other = target.closest("a.slot");
    if (other) { return swapWith(slot, other); }
    var cell = target.closest("td.cell");
    return cell ? moveTo(slot, cell) : false;
  }

  // ---- mouse: HTML5 drag and drop --------------------------------------------------------------------------
  var dragged = null;
  grid.addEventListener("dragstart", function (event) {
    var slot = event.target.closest && event.target.closest("a.slot.movable");
    if (!slot) { return; }
    dragged = slot;
    slot.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", slot.dataset.slotId);
  });
  grid.addEventListener("dragend", function () {
    if (dragged) { dragged.classList.remove("dragging"); }
    dragged = null;
    grid.querySelectorAll(".drop-target").forEach(function (el) { el.classList.remove("drop-target"); });
  });
  grid.addEventListener("dragover", function (event) {
    if (!dragged) { return; }
    var target = event.target.closest && (event.target.closest("a.slot.movable") || event.target.closest("td.cell.drop"));
    if (target) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      grid.querySelectorAll(".drop-target").forEach(function (el) { el.classList.remove("drop-target"); });
      target.classList.add("drop-target");
    }
  });
  grid.addEventListener("drop", function (event) {
    if (!dragged) { return; }
    event.preventDefault();
    drop(dragged, event.target);
  });

  // ---- keyboard: pick up with Space, drop with Enter/Space on a cell or a slot --------------------------------
  function setPicked(slot) {
    if (picked) { picked.classList.remove("picked"); picked.removeAttribute("aria-pressed"); }
    picked = slot;
    grid.querySelectorAll("td.cell.drop").forEach(function (cell) {
      if (slot) { cell.setAttribute("tabindex", "0"); } else { cell.removeAttribute("tabindex"); }
    });
    if (slot) {
      slot.classList.add("picked");
      slot.setAttribute("aria-pressed", "true");
      say(status.dataset.picked);
    }
  }

  grid.addEventListener("keydown", function (event) {
    var slot = event.target.closest && event.target.closest("a.slot");
    var cell = event.target.closest && event.target.closest("td.cell");
    if (event.key === "Escape" && picked) {
      setPicked(null);
      say(status.dataset.cancelled);
      return;
    }
    if (event.key !== " " && event.key !== "Enter") { return; }
    if (!picked) {
      if (slot && slot.classList.contains("movable") && event.key === " ") {
        event.preventDefault();
        setPicked(slot);
      }
      return;
    }
    if (slot === picked) {
      if (event.key === " ") { event.preventDefault(); setPicked(null); say(status.dataset.cancelled); }
      return;
    }
    var target = slot || cell;
    if (target) {
      event.preventDefault();
      var from = picked;
      if (!drop(from, target)) { say(status.dataset.cancelled); setPicked(null); }
    }
  });
}());
