// The pages' one script, served as /pages.js (the Content-Security-Policy allows no
// inline script). Pages print ages ("3 days ago") with the UTC time on hover; this adds
// the viewer's own local time to that hover text. Without it the pages work the same.
for (const t of document.querySelectorAll("time[datetime]")) {
  const d = new Date(t.getAttribute("datetime"));
  if (!Number.isNaN(d.getTime())) {
    const local = d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "long" });
    t.title = local + " (your time) · " + t.title;
  }
}
