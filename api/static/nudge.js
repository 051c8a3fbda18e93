// The page's own script, a file because its Content-Security-Policy runs no inline code.
// A form with data-confirm asks before it is sent (cancelling a sequence, for one).
document.addEventListener("submit", (event) => {
  const message = event.target.dataset ? event.target.dataset.confirm : undefined;
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});

// A copy button (data-copy names its field) is shown only where this script runs. It copies
// the field's text; where the Clipboard API is missing (plain http), the selected text is
// copied the old way, or left selected for Ctrl+C. data-copy-status names where to say so.
for (const button of document.querySelectorAll("button[data-copy]")) {
  button.hidden = false;
}
document.addEventListener("click", async (event) => {
  const button = event.target.closest ? event.target.closest("button[data-copy]") : null;
  const field = button ? document.getElementById(button.dataset.copy) : null;
  if (!field) {
    return;
  }
  field.focus();
  field.select();
  let copied = false;
  try {
    await navigator.clipboard.writeText(field.value);
    copied = true;
  } catch {
    copied = document.execCommand("copy");
  }
  const status = document.getElementById(button.dataset.copyStatus || "");
  if (status) {
    status.textContent = copied ? "Copied." : "Selected: press Ctrl+C (\u2318C on a Mac) to copy.";
  }
});
