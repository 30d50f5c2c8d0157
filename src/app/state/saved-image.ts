// What a saved PNG says about itself, and how a dropped one gives its settings back. The link is the
// source of truth (it reproduces the image exactly); the A1111-style "parameters" text is for people
// and other tools.

import { LINK_KEY, PARAMETERS_KEY, readPngText } from './png-metadata';
import { MULTIPLIER_PARTS, type Settings } from './settings-schema';

const SAMPLER_A1111: Record<Settings['sampler'], string> = { dpmpp2m: 'DPM++ 2M', euler: 'Euler', euler_a: 'Euler a', ddim: 'DDIM' };

/** A1111's "parameters" layout: prompt, "Negative prompt: …", then "Key: value" pairs. */
export function parametersText(settings: Readonly<Settings>, size: { width: number; height: number }, modelName: string): string {
  const multipliers = (m: Settings['self']) => MULTIPLIER_PARTS.map((p) => m[p]).join(',');
  const pairs = [
    `Steps: ${settings.steps}`,
    `Sampler: ${SAMPLER_A1111[settings.sampler]}`,
    `CFG scale: ${settings.cfg}`,
    `Seed: ${settings.seed}`,
    `Size: ${size.width}x${size.height}`,
    `Model: ${modelName}`,
    `Attention self q,k,v,out: "${multipliers(settings.self)}"`,
    `Attention cross q,k,v,out: "${multipliers(settings.cross)}"`,
    `Attention target: ${settings.target}`,
  ];
  return `${settings.prompt}\nNegative prompt: ${settings.negative}\n${pairs.join(', ')}`;
}

/** The text chunks of a saved image or grid: its link and its parameters. */
export function savedImageTexts(link: string, parameters: string): Record<string, string> {
  return { [LINK_KEY]: link, [PARAMETERS_KEY]: parameters };
}

/** The query string ("?prompt=…") of the link a PNG saved by Attention Lab carries. Throws an error
 * that names the file when it is not a PNG or carries no link. */
export function linkQueryFromPng(bytes: Uint8Array, fileName: string): string {
  let texts: Record<string, string>;
  try {
    texts = readPngText(bytes);
  } catch (e) {
    throw new Error(`${fileName}: ${(e as Error).message}; drop a PNG saved by Attention Lab.`, { cause: e });
  }
  const link = texts[LINK_KEY];
  if (!link) throw new Error(`${fileName} carries no Attention Lab settings (no "${LINK_KEY}" text chunk)${texts[PARAMETERS_KEY] ? '; its "parameters" come from another tool' : ''}.`);
  let url: URL;
  try {
    url = new URL(link, 'http://localhost/');
  } catch {
    throw new Error(`${fileName}: its "${LINK_KEY}" text is not a link.`);
  }
  return url.search;
}
