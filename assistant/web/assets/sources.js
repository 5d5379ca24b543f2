const root = () => document.getElementById('zc-sources-panel') || element;
function showTurn(turn) {
  const r = root();
  r.querySelectorAll('.zc-turn').forEach(s => { s.hidden = s.dataset.turn !== String(turn); });
  r.querySelectorAll('.zc-tab').forEach(b => {
    if (b.dataset.turn === String(turn)) b.setAttribute('aria-current', 'true');
    else b.removeAttribute('aria-current');
  });
}
function focusSource(turn, marker) {
  showTurn(turn);
  const card = document.getElementById(`zc-t${turn}-c${marker}`);
  if (!card) return;
  const list = card.closest('.zc-sources');
  if (list) {
    const top = card.getBoundingClientRect().top - list.getBoundingClientRect().top;
    list.scrollTo({top: list.scrollTop + top - 8, behavior: 'smooth'});
    list.scrollIntoView({block: 'nearest'});
  }
  card.classList.remove('zc-flash');
  void card.offsetWidth;
  card.classList.add('zc-flash');
  setTimeout(() => card.classList.remove('zc-flash'), 2500);
}
function viewer() {
  let box = document.getElementById('zc-viewer');
  if (box) return box;
  box = document.createElement('div');
  box.id = 'zc-viewer';
  box.className = 'zc-viewer';
  box.hidden = true;
  box.innerHTML = '<div class="zc-viewer-box" role="dialog" aria-modal="true" aria-label="原文">'
    + '<button type="button" class="zc-viewer-close" aria-label="关闭">×</button>'
    + '<div class="zc-viewer-body"></div></div>';
  box.addEventListener('click', e => {
    if (e.target === box || e.target.closest('.zc-viewer-close')) box.hidden = true;
  });
  document.addEventListener('keydown', e => { if (e.key === 'Escape') box.hidden = true; });
  (document.querySelector('.gradio-container') || document.body).appendChild(box);
  return box;
}
// The viewer with what `load()` gives (HTML from a server function); its body, or null.
async function openViewer(what, load) {
  const box = viewer();
  const body = box.querySelector('.zc-viewer-body');
  body.textContent = `正在打开${what}…`;
  box.hidden = false;
  try {
    body.innerHTML = await load();
    return body;
  } catch (err) {
    body.textContent = `无法打开${what}：` + (err && err.message ? err.message : err);
    return null;
  }
}
async function openContext(btn) {
  let quotes = [];
  try { quotes = JSON.parse(btn.dataset.quotes || '[]'); } catch (_) { /* none marked */ }
  const body = await openViewer('原文', () => server.document_context({
    source: btn.dataset.source, start: Number(btn.dataset.start),
    end: Number(btn.dataset.end), quotes}));
  const hit = body && body.querySelector('#zc-ctx-hit');
  if (hit) hit.scrollIntoView({block: 'center'});
}
function openScan(btn) {
  // the server maps the source and page to the image the index keeps
  return openViewer('扫描原页', () => server.page_image({
    source: btn.dataset.source, page: Number(btn.dataset.page)}));
}
if (!window.__zhiceClicks) {
  window.__zhiceClicks = true;
  document.addEventListener('click', e => {
    const t = e.target instanceof Element ? e.target : null;
    if (!t) return;
    const cite = t.closest('a[href^="#zc-t"]');
    if (cite) {
      const m = (cite.getAttribute('href') || '').match(/^#zc-t(\d+)-c(\d+)$/);
      if (m) { e.preventDefault(); e.stopPropagation(); focusSource(m[1], m[2]); }
      return;
    }
    const tab = t.closest('.zc-tab');
    if (tab) { showTurn(tab.dataset.turn); return; }
    const open = t.closest('.zc-open');
    if (open) { e.preventDefault(); openContext(open); return; }
    const scan = t.closest('.zc-scan');
    if (scan) { e.preventDefault(); openScan(scan); }
  }, true);
}
