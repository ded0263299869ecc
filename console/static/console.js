// Keeps the page current while events flow: every few seconds, the same page again, its <main> swapped in.
(function () {
  const main = document.querySelector("main");
  const seconds = Number(main && main.dataset.refresh);
  if (!seconds) return;
  setInterval(async function () {
    const answer = await fetch(location.href, { credentials: "same-origin" });
    if (!answer.ok) return;
    const page = new DOMParser().parseFromString(await answer.text(), "text/html");
    const fresh = page.querySelector("main");
    if (fresh && fresh.innerHTML !== main.innerHTML) main.innerHTML = fresh.innerHTML;
  }, seconds * 1000);
})();
