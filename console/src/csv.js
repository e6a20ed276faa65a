// The pasted list of a bulk send: CSV whose first line names the columns. The first column is the number to send
// to; every other column is a variable of that row, named by its header, for the message's {placeholders}.
//
//   phone,name
//   +62 812-3456-789,John
//   628987654321,"Jane, Jr."

/** The rows of a CSV text (RFC 4180: quoted fields may hold commas, newlines and "" for a quote). */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 1; } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i += 1;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  return rows.map((cells) => cells.map((cell) => cell.trim())).filter((cells) => cells.some(Boolean));
}

/** The bulk recipients of a pasted list: [{chatId, variables}], or an Error naming the line at fault. */
export function recipients(text) {
  const [header, ...rows] = parseCsv(text);
  if (!header) throw new Error('Paste a list: a first line naming the columns (phone,name,…), then one line per recipient.');
  if (/\d/.test(header[0])) throw new Error('The first line names the columns, e.g. phone,name: the first column is the number, the others are variables.');
  if (!rows.length) throw new Error('The list has no recipient after its first line.');
  const names = header.slice(1);
  return rows.map((cells, index) => {
    if (!cells[0]) throw new Error(`Line ${index + 2}: no phone number in the first column.`);
    if (cells.length > header.length) throw new Error(`Line ${index + 2}: more columns than the first line names.`);
    return { chatId: cells[0], variables: Object.fromEntries(names.map((name, column) => [name, cells[column + 1] ?? ''])) };
  });
}
