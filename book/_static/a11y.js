/* Accessibility repairs to HTML that Sphinx/docutils writes (checked by axe-core in
 * tests/browser/test_audit.py).
 *
 * The bibliography: docutils writes <div role="list" class="citation-list"> whose
 * entries have role="doc-biblioentry", a role ARIA 1.2 deprecates and that a list may not
 * contain (axe: aria-required-children, critical). Each entry becomes a listitem. */
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll('[role="list"] > [role="doc-biblioentry"]').forEach(function (e) {
    e.setAttribute("role", "listitem");
  });
});
