// The page's own script, a file because its Content-Security-Policy runs no inline code.
// A form with data-confirm asks before it is sent (cancelling a sequence, for one).
document.addEventListener("submit", (event) => {
  const message = event.target.dataset ? event.target.dataset.confirm : undefined;
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});
