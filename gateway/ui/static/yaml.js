// A service definition as YAML (emitted from the API's JSON), and the gateway's validation errors
// mapped back onto the lines of that YAML.
//
// The gateway names each invalid field as "<source>: service '<name>': <field.path>: <message>",
// several joined by "; " (README, "Service definitions"); a YAML syntax error names its line.

const PLAIN = /^[A-Za-z_/.][\w./@:+-]*$/;
const RESERVED = /^(true|false|yes|no|on|off|null|y|n|~|\.inf|[-+]\.inf|\.nan)$/i;

function scalar(value) {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const text = String(value);
  if (PLAIN.test(text) && !RESERVED.test(text) && !text.includes(': ') && !text.endsWith(':')) return text;
  return JSON.stringify(text);
}

const isScalar = (v) => v === null || typeof v !== 'object';

// A text of several lines (a script) reads best as a literal block, where YAML can keep it exactly.
const block = (v) => typeof v === 'string' && v.includes('\n') && !/^\s/.test(v) && !/\n\n$/.test(v)
  && !/[ \t]\n|[ \t]$/.test(v) && !/[\r\t\u0000-\u0008\u000b-\u001f\u007f-\u009f\ufeff]/.test(v);

export function emit(value, indent = 0) {
  const pad = ' '.repeat(indent);
  if (Array.isArray(value)) {
    if (!value.length) return '[]';
    if (value.every(isScalar)) return `[${value.map(scalar).join(', ')}]`;
    return value.map((item) => {
      const body = isScalar(item) ? scalar(item) : emit(item, indent + 2).trimStart();
      return `\n${pad}- ${body}`;
    }).join('');
  }
  if (value && typeof value === 'object') {
    const keys = Object.keys(value);
    if (!keys.length) return '{}';
    return keys.map((key) => {
      const item = value[key];
      if (block(item)) {
        const body = item.replace(/\n$/, '').split('\n').map((line) => (line ? `${pad}  ${line}` : '')).join('\n');
        return `\n${pad}${scalar(key)}: ${item.endsWith('\n') ? '|' : '|-'}\n${body}`;
      }
      if (isScalar(item) || (Array.isArray(item) && (!item.length || item.every(isScalar)))
        || (!Array.isArray(item) && !Object.keys(item).length)) {
        return `\n${pad}${scalar(key)}: ${emit(item, indent + 2)}`;
      }
      return `\n${pad}${scalar(key)}:${emit(item, Array.isArray(item) ? indent : indent + 2)}`;
    }).join('');
  }
  return scalar(value);
}

export function toYaml(definition) {
  return `${emit(definition).replace(/^\n/, '')}\n`;
}

// The line (0-based) where the field `path` ("preprocess.size", "input.0.path") is written, or
// the line of the deepest part of it that is written on a line of its own; null if none is.
export function lineOf(text, path) {
  const lines = text.split('\n');
  const ind = (i) => lines[i].length - lines[i].trimStart().length;
  const keyCol = (i) => ind(i) + (lines[i].trimStart().startsWith('- ') ? 2 : 0);
  const blank = (i) => !lines[i].trim() || lines[i].trim().startsWith('#');
  let from = 0;
  let to = lines.length;
  let found = null;
  for (const segment of String(path).split('.')) {
    const rows = [];
    for (let i = from; i < to; i += 1) if (!blank(i)) rows.push(i);
    if (!rows.length) break;
    let hit;
    if (/^\d+$/.test(segment)) {
      const items = rows.filter((i) => lines[i].trimStart().startsWith('- '));
      const top = Math.min(...items.map(ind));
      hit = items.filter((i) => ind(i) === top)[Number(segment)];
      if (hit === undefined) break;
      from = hit;
      to = hit + 1;
      while (to < lines.length && (blank(to) || ind(to) > ind(hit))) to += 1;
    } else {
      const col = Math.min(...rows.map(keyCol));
      const key = segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const re = new RegExp(`^(- )?["']?${key}["']?\\s*:`);
      hit = rows.find((i) => keyCol(i) === col && re.test(lines[i].trimStart()));
      if (hit === undefined) break;
      const c = keyCol(hit);
      from = hit + 1;
      to = from;
      while (to < lines.length
        && (blank(to) || ind(to) > c || (ind(to) === c && lines[to].trimStart().startsWith('- ')))) to += 1;
    }
    found = hit;
  }
  return found;
}

// {fields: [{field, message, line}], general: [message]} from a gateway error message.
export function explain(message, text) {
  const fields = [];
  const general = [];
  const syntax = /line (\d+), column (\d+)/.exec(message);
  if (syntax) {
    fields.push({ field: '(yaml)', message: message.replace(/^.*?: /, ''), line: Number(syntax[1]) - 1 });
    return { fields, general };
  }
  const service = /service '[^']*': /.exec(message);
  if (!service) return { fields, general: [message] };
  const rest = message.slice(service.index + service[0].length);
  for (const part of rest.split('; ')) {
    const match = /^([\w.]+|\(definition\)): (.*)$/s.exec(part);
    const field = match ? match[1] : part.split(/[ :]/, 1)[0];
    const line = match && match[1] !== '(definition)' ? lineOf(text, match[1]) : lineOf(text, field);
    if (match || line !== null) {
      fields.push({ field, message: match ? match[2] : part, line: line ?? lineOf(text, 'name') ?? 0 });
    } else {
      general.push(part);
    }
  }
  return { fields, general };
}
