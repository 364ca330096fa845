/** Number formatting for tables and captions. */

export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`;
}

export function rate(value: number): string {
  return value >= 100 ? String(Math.round(value)) : value.toFixed(1);
}

export function percent(value: number): string {
  return `${(value * 100).toFixed(value >= 0.1 || value === 0 ? 0 : 1)} %`;
}

export function clock(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString([], { hour12: false });
}
