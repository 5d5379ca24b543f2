"""The page's stylesheet and the script of the sources panel, as strings for Gradio.

The script only moves between things the server already rendered (escaped) and asks
the server for a document's text; it never builds markup from document text itself.
"""

FONTS = ["Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei",
         "system-ui", "sans-serif"]
MONO_FONTS = ["Noto Sans Mono CJK SC", "ui-monospace", "monospace"]

CSS = """
.zc-header h1 { margin: 0 0 2px 0; font-size: 1.6rem; }
.zc-header p { margin: 0; color: var(--body-text-color-subdued); }
#zc-chat .zc-answer, #zc-chat .zc-question { line-height: 1.75; }
.zc-searched { font-size: .85em; color: var(--body-text-color-subdued); margin-bottom: 4px; }
.zc-abstain { border-left: 4px solid #d97706; background: rgba(217,119,6,.08);
  padding: 8px 12px; border-radius: 6px; }
.zc-note { font-size: .85em; color: var(--body-text-color-subdued); margin-top: 4px; }
a.zc-cite, .zc-cite-demo { display: inline-block; padding: 0 3px; margin: 0 1px;
  border-radius: 4px; font-size: .8em; font-weight: 600; line-height: 1.4;
  vertical-align: super; color: var(--color-accent); background: var(--color-accent-soft);
  text-decoration: none; cursor: pointer; }
a.zc-cite:hover { background: var(--color-accent); color: white; }
.zc-sources { display: flex; flex-direction: column; gap: 10px; max-height: 640px;
  overflow-y: auto; padding: 2px 6px 2px 2px; }
#zc-chat .examples button.example { border: 1px solid var(--border-color-primary);
  border-radius: 10px; padding: 10px 14px; background: var(--background-fill-secondary); }
#zc-chat .examples button.example:hover { border-color: var(--color-accent); }
.zc-empty { color: var(--body-text-color-subdued); padding: 24px 12px; line-height: 1.8;
  border: 1px dashed var(--border-color-primary); border-radius: 8px; }
.zc-tabs { display: flex; flex-wrap: wrap; gap: 6px; }
.zc-tab { border: 1px solid var(--border-color-primary); border-radius: 999px; padding: 2px 10px;
  background: var(--background-fill-primary); cursor: pointer; font-size: .85em; }
.zc-tab[aria-current="true"] { background: var(--color-accent-soft);
  border-color: var(--color-accent); }
.zc-turn { display: flex; flex-direction: column; gap: 10px; }
.zc-turn[hidden] { display: none; }
.zc-turn-head { font-weight: 600; }
.zc-count { font-size: .85em; color: var(--body-text-color-subdued); }
.zc-abstain-note { border-left: 4px solid #d97706; background: rgba(217,119,6,.08);
  padding: 8px 12px; border-radius: 6px; }
.zc-src { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px;
  background: var(--background-fill-primary); scroll-margin: 12px; transition: box-shadow .3s; }
.zc-src.zc-cited { border-left: 4px solid var(--color-accent); }
.zc-src header { display: flex; gap: 8px; align-items: baseline; }
.zc-num { flex: none; min-width: 1.6em; text-align: center; font-weight: 700; font-size: .85em;
  border-radius: 4px; color: var(--color-accent); background: var(--color-accent-soft); }
.zc-title { font-weight: 600; }
.zc-heading { font-size: .85em; color: var(--body-text-color-subdued); margin-top: 2px; }
.zc-meta { font-size: .8em; color: var(--body-text-color-subdued); margin-top: 2px; }
.zc-passage { margin-top: 6px; line-height: 1.75; font-size: .93em; white-space: normal;
  overflow-wrap: anywhere; }
.zc-passage mark, .zc-ctx-text mark { background: #fde68a; color: inherit; padding: 0 1px;
  border-radius: 2px; }
.zc-ctx-hit { background: var(--color-accent-soft); border-radius: 2px; }
.zc-open { margin-top: 6px; font-size: .8em; border: none; background: none; padding: 0;
  color: var(--color-accent); cursor: pointer; }
.zc-open:hover { text-decoration: underline; }
.zc-flash { box-shadow: 0 0 0 3px var(--color-accent); }
.zc-more summary { cursor: pointer; color: var(--body-text-color-subdued); font-size: .9em; }
.zc-more .zc-src { margin-top: 8px; opacity: .92; }
.zc-viewer { position: fixed; inset: 0; z-index: 1000; background: rgba(0,0,0,.45);
  display: flex; align-items: center; justify-content: center; }
.zc-viewer[hidden] { display: none; }
.zc-viewer-box { position: relative; width: min(880px, 94vw); height: 84vh; display: flex;
  flex-direction: column; background: var(--background-fill-primary); border-radius: 10px;
  padding: 14px 18px; box-shadow: 0 10px 40px rgba(0,0,0,.3); }
.zc-viewer-close { position: absolute; top: 8px; right: 12px; font-size: 1.4rem; border: none;
  background: none; cursor: pointer; color: var(--body-text-color); }
.zc-viewer-body { display: flex; flex-direction: column; min-height: 0; flex: 1; }
.zc-ctx-head { display: flex; flex-direction: column; padding-right: 32px; margin-bottom: 8px; }
.zc-ctx-text { flex: 1; overflow-y: auto; white-space: pre-wrap; line-height: 1.8;
  overflow-wrap: anywhere; border-top: 1px solid var(--border-color-primary); padding-top: 8px; }
.zc-docs table { width: 100%; border-collapse: collapse; font-size: .92em; }
.zc-docs th, .zc-docs td { text-align: left; padding: 6px 8px;
  border-bottom: 1px solid var(--border-color-primary); }
.zc-docs td.zc-n { text-align: right; font-variant-numeric: tabular-nums; }
.zc-off { border-left: 4px solid var(--border-color-accent); padding: 8px 12px; }
"""

# Runs once when the sources panel mounts (Gradio's js_on_load: `element`, `server`).
# Clicks are caught on the document, because the [n] markers live in the chat.
SOURCES_JS = r"""
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
async function openContext(btn) {
  const box = viewer();
  const body = box.querySelector('.zc-viewer-body');
  body.textContent = '正在打开原文…';
  box.hidden = false;
  try {
    let quotes = [];
    try { quotes = JSON.parse(btn.dataset.quotes || '[]'); } catch (_) { /* none marked */ }
    body.innerHTML = await server.document_context({source: btn.dataset.source,
      start: Number(btn.dataset.start), end: Number(btn.dataset.end), quotes});
    const hit = body.querySelector('#zc-ctx-hit');
    if (hit) hit.scrollIntoView({block: 'center'});
  } catch (err) {
    body.textContent = '无法打开原文：' + (err && err.message ? err.message : err);
  }
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
    if (open) { e.preventDefault(); openContext(open); }
  }, true);
}
"""
