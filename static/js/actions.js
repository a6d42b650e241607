// The remediation list: a "select every action on this page" box for the bulk form.
// Without JavaScript the box stays hidden and each action is ticked by hand.
(function () {
  "use strict";
  var all = document.querySelector("[data-select-all]");
  if (!all) return;
  var name = all.getAttribute("data-select-all");
  var boxes = document.querySelectorAll('input[type="checkbox"][name="' + name + '"]');
  all.hidden = false;

  function sync() {
    var checked = 0;
    boxes.forEach(function (box) { if (box.checked) checked += 1; });
    all.checked = checked === boxes.length && boxes.length > 0;
    all.indeterminate = checked > 0 && checked < boxes.length;
  }

  all.addEventListener("change", function () {
    boxes.forEach(function (box) { box.checked = all.checked; });
  });
  boxes.forEach(function (box) { box.addEventListener("change", sync); });
  sync();
})();
