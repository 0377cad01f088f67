/**
 * What a benchmark section hands back: figures (each with a unit and, where it has one, the issue's target and
 * the figure it is compared with) and what could not be measured, with the reason. Nothing is invented: a figure
 * that was not measured is absent and listed under `skipped`.
 */
export interface Figure {
  section: string;
  name: string;
  value: number;
  unit: string;
  /** e.g. "seed method: 1210 ms (46×)" */
  comparison?: string;
  /** e.g. "≥ 20× less" */
  target?: string;
  /** true/false when there is a target, undefined otherwise. */
  holds?: boolean;
  note?: string;
}

export interface Skip {
  section: string;
  what: string;
  why: string;
}

export class Report {
  readonly figures: Figure[] = [];
  readonly skipped: Skip[] = [];
  readonly notes: string[] = [];

  add(f: Figure): void {
    this.figures.push(f);
    const mark = f.holds === undefined ? ' ' : f.holds ? '✓' : '✗';
    const value = `${fmt(f.value)} ${f.unit}`;
    console.log(`  ${mark} ${f.name.padEnd(52)} ${value.padStart(14)}${f.comparison ? `   ${f.comparison}` : ''}${f.target ? `   [target ${f.target}]` : ''}`);
  }

  skip(section: string, what: string, why: string): void {
    this.skipped.push({ section, what, why });
    console.log(`  - not measured: ${what}: ${why}`);
  }

  note(text: string): void {
    this.notes.push(text);
    console.log(`    ${text}`);
  }

  /** Markdown table of every figure, for the README's Performance section. */
  markdown(): string {
    const rows = this.figures.map(
      (f) =>
        `| ${f.section} | ${f.name} | ${fmt(f.value)} ${f.unit} | ${f.comparison ?? ''} | ${f.target ?? ''} | ${f.holds === undefined ? '' : f.holds ? 'yes' : '**no**'} |`,
    );
    const skipped = this.skipped.map((s) => `- not measured: ${s.section} — ${s.what}: ${s.why}`);
    return ['| section | figure | value | compared with | target | holds |', '|---|---|---|---|---|---|', ...rows, '', ...skipped].join('\n');
  }
}

export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}
