// Tables keyed by row id: rows are added, changed and removed one by one, and a cell is only
// touched when its text changed (no table rebuilds at 1 Hz).

export function esc(v) {
  return String(v == null ? "" : v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

export class KeyedTable {
  /**
   * columns: [{ name, value(row) -> string, html?: true (value is markup, escaped by the caller), cls?(row) -> string }]
   */
  constructor(table, columns, { id, onClick, empty = "none" } = {}) {
    this.tbody = table.tBodies[0] || table.createTBody();
    this.columns = columns;
    this.id = id;
    this.onClick = onClick;
    this.rows = new Map(); // id -> { tr, cells: [{ td, text, cls }], row }
    this.emptyRow = document.createElement("tr");
    this.emptyRow.innerHTML = '<td class="muted" colspan="' + columns.length + '">' + esc(empty) + "</td>";
    this.tbody.appendChild(this.emptyRow);
  }

  upsert(rows) {
    for (const row of rows) {
      const id = this.id(row);
      let r = this.rows.get(id);
      if (!r) {
        const tr = document.createElement("tr");
        tr.dataset.id = id;
        if (this.onClick) {
          tr.classList.add("clickable");
          tr.addEventListener("click", (e) => {
            if (e.target.closest("a")) return;
            this.onClick(this.rows.get(id).row);
          });
        }
        const cells = this.columns.map(() => {
          const td = document.createElement("td");
          tr.appendChild(td);
          return { td, text: null, cls: null };
        });
        r = { tr, cells, row };
        this.rows.set(id, r);
        this.tbody.appendChild(tr);
      }
      r.row = row;
      this.render(r);
    }
    this.emptyRow.hidden = this.rows.size > 0;
  }

  remove(ids) {
    for (const id of ids) {
      const r = this.rows.get(id);
      if (!r) continue;
      r.tr.remove();
      this.rows.delete(id);
    }
    this.emptyRow.hidden = this.rows.size > 0;
  }

  /** Re-renders every row from its last data (cells whose text did not change are left alone). */
  refresh() {
    for (const r of this.rows.values()) this.render(r);
  }

  render(r) {
    this.columns.forEach((c, i) => {
      const cell = r.cells[i];
      const text = c.value(r.row);
      if (text !== cell.text) {
        if (c.html) cell.td.innerHTML = text;
        else cell.td.textContent = text;
        cell.text = text;
      }
      const cls = c.cls ? c.cls(r.row) : "";
      if (cls !== cell.cls) {
        cell.td.className = cls;
        cell.cls = cls;
      }
    });
  }

  get size() {
    return this.rows.size;
  }

  all() {
    return [...this.rows.values()].map((r) => r.row);
  }
}
