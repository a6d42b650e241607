/* The registration questionnaire: show a question only when it is asked.
 *
 * Each question carries its catalogue condition as JSON in data-ask-when (see
 * assessments.engine.conditions.as_data). Like the engine, conditions are evaluated in catalogue
 * order (data-position) over the answers to the questions asked before, so an answer hidden by
 * an earlier change counts for nothing. Hidden questions are disabled and not submitted; the
 * server drops unasked answers anyway and decides for itself. Without this script every
 * question is shown.
 */
(function () {
  "use strict";

  var form = document.querySelector("form[data-questionnaire]");
  if (!form) {
    return;
  }

  var questions = Array.prototype.slice.call(form.querySelectorAll("[data-question]"));
  questions.sort(function (a, b) {
    return Number(a.dataset.position) - Number(b.dataset.position);
  });
  questions.forEach(function (el) {
    el.condition = el.dataset.askWhen ? JSON.parse(el.dataset.askWhen) : null;
  });

  function valueOf(el) {
    var type = el.dataset.type;
    var inputs = el.querySelectorAll("input, textarea, select");
    var checked = Array.prototype.filter.call(inputs, function (i) { return i.checked; });
    if (type === "multi_choice") {
      return checked.map(function (i) { return i.value; });
    }
    if (type === "boolean") {
      return checked.length ? checked[0].value === "yes" : undefined;
    }
    if (type === "choice") {
      return checked.length ? checked[0].value : undefined;
    }
    var raw = inputs.length ? inputs[0].value.trim() : "";
    if (raw === "") {
      return undefined;
    }
    if (type === "number") {
      var number = Number(raw);
      return isFinite(number) ? number : undefined;
    }
    return raw; // text, and dates as YYYY-MM-DD
  }

  function isEmpty(value) {
    return value === undefined || value === null || value === "" ||
      (Array.isArray(value) && value.length === 0);
  }

  var compare = {
    "==": function (a, b) { return a === b; },
    "!=": function (a, b) { return a !== b; },
    "<": function (a, b) { return a < b; },
    "<=": function (a, b) { return a <= b; },
    ">": function (a, b) { return a > b; },
    ">=": function (a, b) { return a >= b; }
  };

  function holds(node, answers) {
    var answer = answers[node.key];
    switch (node.op) {
      case "literal":
        return node.value;
      case "answer":
        return answer === true;
      case "label":
        return false; // labels come from an assessment, never from the questionnaire
      case "answered":
        return !isEmpty(answer);
      case "not":
        return !holds(node.operand, answers);
      case "all":
        return node.operands.every(function (o) { return holds(o, answers); });
      case "any":
        return node.operands.some(function (o) { return holds(o, answers); });
      case "compare":
        if (answer === undefined || answer === null) {
          return false;
        }
        if (node.cmp !== "==" && node.cmp !== "!=" && typeof answer !== typeof node.value) {
          return false; // the engine's comparison of different types is false as well
        }
        return compare[node.cmp](answer, node.value);
      case "in":
        return node.values.indexOf(answer) !== -1;
      case "contains": {
        var given = typeof answer === "string" ? [answer] : (answer || []);
        var hits = node.values.map(function (v) { return given.indexOf(v) !== -1; });
        return node.any ? hits.some(Boolean) : hits.every(Boolean);
      }
    }
    return false;
  }

  function refresh() {
    var answers = {};
    questions.forEach(function (el) {
      var asked = !el.condition || holds(el.condition, answers);
      el.hidden = !asked;
      el.querySelectorAll("input, textarea, select").forEach(function (input) {
        input.disabled = !asked;
      });
      if (asked) {
        var value = valueOf(el);
        if (value !== undefined) {
          answers[el.dataset.question] = value;
        }
      }
    });
  }

  form.addEventListener("change", refresh);
  form.addEventListener("input", refresh);
  refresh();
})();
