// Per-kind behaviour of the task page: collect the answer, snapshot/restore it for autosave,
// and the kind's keys. task.js calls these; each returns plain data, never HTML.
(function () {
  "use strict";
  function pressed(el, on) { el.setAttribute("aria-pressed", on ? "true" : "false"); }
  function flagsOf(root) {
    var out = {};
    root.querySelectorAll("[data-answer]").forEach(function (card) {
      var flags = [];
      card.querySelectorAll("[data-flag][aria-pressed=true]").forEach(function (b) { flags.push(b.dataset.flag); });
      if (flags.length) out[card.dataset.answer] = flags;
    });
    return out;
  }
  function ratingsOf(root) {
    var out = {};
    root.querySelectorAll("[data-answer]").forEach(function (card) {
      var b = card.querySelector("[data-rating][aria-pressed=true]");
      if (b) out[card.dataset.answer] = parseInt(b.dataset.rating, 10);
    });
    return out;
  }
  function restoreToggles(root, state) {
    root.querySelectorAll("[data-answer]").forEach(function (card) {
      var id = card.dataset.answer;
      card.querySelectorAll("[data-flag]").forEach(function (b) {
        pressed(b, ((state.flags || {})[id] || []).indexOf(b.dataset.flag) >= 0);
      });
      card.querySelectorAll("[data-rating]").forEach(function (b) {
        pressed(b, (state.ratings || {})[id] === parseInt(b.dataset.rating, 10));
      });
    });
  }
  function rationale(root) {
    var el = root.querySelector("[data-rationale]");
    return el ? el.value : "";
  }

  var demonstration = {
    collect: function (root) {
      var text = root.querySelector("[data-demo-text]").value;
      var draft = root.querySelector("[data-draft-id]");
      return { text: text, draft_completion: draft ? parseInt(draft.value, 10) : null };
    },
    snapshot: function (root) { return { text: root.querySelector("[data-demo-text]").value }; },
    restore: function (root, state) {
      if (typeof state.text === "string") root.querySelector("[data-demo-text]").value = state.text;
    },
  };

  // Ranking: slots 1..K hold letter chips; a card's digit key moves its chip.
  function slots(root) { return root.querySelectorAll(".slot-items[data-rank]"); }
  function slotOf(root, rank) { return root.querySelector('.slot-items[data-rank="' + rank + '"]'); }
  function chipOf(root, id) { return root.querySelector('.rank-chip[data-id="' + id + '"]'); }
  function rankingLabels(root) {
    var tiers = {};
    slots(root).forEach(function (slot) {
      var rank = parseInt(slot.dataset.rank, 10);
      var chips = slot.querySelectorAll(".rank-chip");
      chips.forEach(function (chip) { tiers[chip.dataset.id] = { rank: rank, tie: chips.length > 1 }; });
      slot.closest(".rank-slot, .rank-pool").classList.toggle("tie", rank > 0 && chips.length > 1);
    });
    root.querySelectorAll(".answer-card[data-answer]").forEach(function (card) {
      var t = tiers[card.dataset.answer];
      var label = card.querySelector("[data-rank-label]");
      if (!t || t.rank === 0) { label.textContent = "Not ranked"; label.className = "rank-label badge"; }
      else { label.textContent = "Rank " + t.rank + (t.tie ? " (tie)" : ""); label.className = "rank-label badge ranked"; }
      card.dataset.rank = t ? t.rank : 0;
    });
  }
  function moveChip(root, id, rank) {
    var chip = chipOf(root, id), target = slotOf(root, rank);
    if (!chip || !target) return;
    var from = chip.parentElement;
    var allowTies = root.closest("[data-allow-ties]").dataset.allowTies === "1";
    if (rank > 0 && !allowTies) {
      // No ties: the answer already there swaps places with this one.
      target.querySelectorAll(".rank-chip").forEach(function (other) { if (other !== chip) from.appendChild(other); });
    }
    target.appendChild(chip);
    rankingLabels(root);
  }
  var ranking = {
    init: function (root) {
      var allowTies = root.closest("[data-allow-ties]").dataset.allowTies === "1";
      if (window.Sortable) {
        slots(root).forEach(function (slot) {
          window.Sortable.create(slot, {
            group: { name: "rank-" + root.closest("[data-task]").dataset.task, put: function (to) {
              return allowTies || to.el.dataset.rank === "0" || to.el.children.length === 0;
            } },
            animation: 120, ghostClass: "chip-ghost", chosenClass: "chip-chosen",
            onSort: function () { rankingLabels(root); root.dispatchEvent(new Event("flywheel:changed", { bubbles: true })); },
          });
        });
      }
      rankingLabels(root);
    },
    key: function (root, event, card) {
      if (!card || !/^[0-9]$/.test(event.key)) return false;
      var rank = parseInt(event.key, 10);
      if (rank > slots(root).length - 1) return false;
      moveChip(root, card.dataset.answer, rank);
      return true;
    },
    collect: function (root) {
      var pool = slotOf(root, 0).querySelectorAll(".rank-chip");
      if (pool.length) {
        var letters = Array.prototype.map.call(pool, function (c) { return c.textContent.trim(); });
        throw new Error("Give every answer a rank: " + letters.join(", ") + " " + (letters.length > 1 ? "are" : "is") + " not ranked yet.");
      }
      var tiers = [];
      slots(root).forEach(function (slot) {
        if (slot.dataset.rank === "0") return;
        var ids = Array.prototype.map.call(slot.querySelectorAll(".rank-chip"), function (c) { return parseInt(c.dataset.id, 10); });
        if (ids.length) tiers.push(ids);
      });
      var none = root.querySelector("[data-none-acceptable]");
      return { ranking: tiers, flags: flagsOf(root), ratings: ratingsOf(root), none_acceptable: !!(none && none.checked), rationale: rationale(root) };
    },
    snapshot: function (root) {
      var placed = {};
      slots(root).forEach(function (slot) {
        slot.querySelectorAll(".rank-chip").forEach(function (c) { placed[c.dataset.id] = parseInt(slot.dataset.rank, 10); });
      });
      var none = root.querySelector("[data-none-acceptable]");
      return { placed: placed, flags: flagsOf(root), ratings: ratingsOf(root), none: !!(none && none.checked) };
    },
    restore: function (root, state) {
      Object.keys(state.placed || {}).forEach(function (id) {
        var chip = chipOf(root, id), target = slotOf(root, state.placed[id]);
        if (chip && target) target.appendChild(chip);
      });
      restoreToggles(root, state);
      var none = root.querySelector("[data-none-acceptable]");
      if (none) none.checked = !!state.none;
      rankingLabels(root);
    },
  };

  function pick(root, selector, attr, value) {
    root.querySelectorAll(selector).forEach(function (b) { pressed(b, b.dataset[attr] === String(value)); });
  }
  var pairwise = {
    key: function (root, event) {
      var map = { "1": "a", "2": "b", "0": "tie", b: "both_bad", B: "both_bad" };
      if (!map[event.key]) return false;
      pick(root, "[data-choice]", "choice", map[event.key]);
      return true;
    },
    collect: function (root) {
      var choice = root.querySelector("[data-choice][aria-pressed=true]");
      if (!choice) throw new Error("Choose: A better (1), B better (2), about the same (0) or both bad (B).");
      var strength = root.querySelector("[data-strength][aria-pressed=true]");
      var c = choice.dataset.choice;
      return {
        choice: c,
        strength: strength && (c === "a" || c === "b") ? parseInt(strength.dataset.strength, 10) : null,
        flags: flagsOf(root), rationale: rationale(root),
      };
    },
    snapshot: function (root) {
      var choice = root.querySelector("[data-choice][aria-pressed=true]");
      var strength = root.querySelector("[data-strength][aria-pressed=true]");
      return { choice: choice && choice.dataset.choice, strength: strength && strength.dataset.strength, flags: flagsOf(root) };
    },
    restore: function (root, state) {
      if (state.choice) pick(root, "[data-choice]", "choice", state.choice);
      if (state.strength) pick(root, "[data-strength]", "strength", state.strength);
      restoreToggles(root, state);
    },
  };

  // Rubric: one radio row per criterion and answer. A number key scores the row that holds
  // the focus (or the first unscored row of the focused answer); the row's anchor line says
  // what the focused, else the picked, point means.
  function anchorLine(row) {
    var line = row.querySelector("[data-anchor-line]");
    if (!line) return;
    var focused = row.contains(document.activeElement) && document.activeElement.matches("[data-score]") ? document.activeElement : null;
    var input = focused || row.querySelector("[data-score]:checked");
    line.textContent = "";
    if (!input) return;
    var point = document.createElement("span");
    point.className = "point";
    point.textContent = input.value;
    line.appendChild(point);
    var text = document.createElement("span");
    if (input.dataset.anchor) text.textContent = input.dataset.anchor;
    else { text.className = "hint"; text.textContent = "(no anchor written for this point)"; }
    line.appendChild(text);
  }
  function anchorLines(root) { root.querySelectorAll("[data-rubric-row]").forEach(anchorLine); }
  function rubricRow(root, card) {
    var active = document.activeElement;
    if (active && active.matches && active.matches("[data-score]") && root.contains(active)) return active.closest("[data-rubric-row]");
    var rows = (card || root).querySelectorAll("[data-rubric-row]");
    for (var i = 0; i < rows.length; i++) if (!rows[i].querySelector("[data-score]:checked")) return rows[i];
    return null;
  }

  var rubric = {
    init: function (root) {
      ["focusin", "focusout", "change"].forEach(function (type) {
        root.addEventListener(type, function (event) {
          var row = event.target.closest && event.target.closest("[data-rubric-row]");
          // focusout runs before the new element has the focus: look once it has.
          if (row) setTimeout(function () { anchorLine(row); }, 0);
        });
      });
      anchorLines(root);
    },
    key: function (root, event, card) {
      if (!/^[0-9]$/.test(event.key)) return false;
      var row = rubricRow(root, card);
      if (!row) return false;
      var inputs = row.querySelectorAll("[data-score]");
      var value = event.key, found = null;
      inputs.forEach(function (i) { if (i.value === value) found = i; });
      // 0 is 10 on a scale that has 10 and no 0.
      if (!found && value === "0") inputs.forEach(function (i) { if (i.value === "10") found = i; });
      if (!found) return false;
      found.checked = true;
      found.focus();
      anchorLine(row);
      return true;
    },
    collect: function (root) {
      var scores = {}, missing = 0;
      root.querySelectorAll("[data-score]").forEach(function (input) {
        scores[input.dataset.answerId] = scores[input.dataset.answerId] || {};
        if (input.checked) scores[input.dataset.answerId][input.dataset.criterion] = parseInt(input.value, 10);
      });
      root.querySelectorAll(".rubric-grid tbody tr").forEach(function (row) {
        if (!row.querySelector("[data-score]:checked")) missing += 1;
      });
      if (missing) throw new Error("Score every criterion of every answer: " + missing + " row" + (missing > 1 ? "s have" : " has") + " no score yet.");
      return { scores: scores, rationale: rationale(root) };
    },
    snapshot: function (root) {
      var checked = [];
      root.querySelectorAll("[data-score]:checked").forEach(function (i) { checked.push(i.name + "=" + i.value); });
      return { checked: checked };
    },
    restore: function (root, state) {
      (state.checked || []).forEach(function (pair) {
        var parts = pair.split("=");
        root.querySelectorAll("[data-score]").forEach(function (i) { if (i.name === parts[0] && i.value === parts[1]) i.checked = true; });
      });
      anchorLines(root);
    },
  };

  window.FlywheelKinds = { demonstration: demonstration, ranking: ranking, pairwise: pairwise, rubric: rubric, pressed: pressed };
})();
