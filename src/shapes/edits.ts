// ShapeEdit edits: a structured edit (ShapeEditSpec), the scene it produces (applyEdit, which
// refuses anything ambiguous, impossible or a no-op), its instruction in several phrasings, and its
// negatives — edits that change exactly one attribute of the spec and are themselves valid on the
// source scene, so each negative instruction names a *different* edit that could have been asked.
import {
  BACKGROUND_COLOUR_NAMES,
  Background,
  CELLS,
  COLOUR_NAMES,
  CellName,
  ColourName,
  SHAPES,
  SIZES,
  Scene,
  ShapeName,
  ShapeObject,
  SizeName,
  allBackgrounds,
  canonicalScene,
  checkBackground,
  isVisibleOn,
  sceneKey,
} from './scene';

/** Scenes the edits produce hold between 1 and MAX_OBJECTS objects (the sources do too). */
export const MAX_OBJECTS = 4;

export const EDIT_TYPES = ['recolour', 'remove', 'add', 'move', 'resize', 'count', 'background'] as const;
export type EditType = (typeof EDIT_TYPES)[number];

/** How an instruction names an object: colour and shape, plus its cell when those are not unique. */
export interface ObjectRef {
  colour: ColourName;
  shape: ShapeName;
  cell?: CellName;
}

/**
 * An edit. Conventions that make the target a function of the instruction: resize moves one size
 * step (small ↔ medium ↔ large); count adds copies (same size as the existing ones, which must all
 * share a size) in the first empty cells in reading order, and removes the last ones in reading order.
 */
export type ShapeEditSpec =
  | { type: 'recolour'; target: ObjectRef; colour: ColourName }
  | { type: 'remove'; target: ObjectRef }
  | { type: 'add'; shape: ShapeName; colour: ColourName; size: SizeName; cell: CellName }
  | { type: 'move'; target: ObjectRef; cell: CellName }
  | { type: 'resize'; target: ObjectRef; change: 'larger' | 'smaller' }
  | { type: 'count'; colour: ColourName; shape: ShapeName; change: 'add' | 'remove'; amount: number }
  | { type: 'background'; background: Background };

/** The attribute a negative changes. */
export type EditAttribute = 'colour' | 'shape' | 'size' | 'position' | 'count' | 'action';

/** A negative: a valid edit of the same source that differs from the positive in one attribute. */
export interface NegativeShapeEdit {
  attribute: EditAttribute;
  spec: ShapeEditSpec;
  text: string;
}

/** An edit that cannot be applied to a scene (why is in the message). */
export class ShapeEditError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShapeEditError';
  }
}

// ---------------------------------------------------------------------------------------------
// Applying

/** The object a ref names, or a ShapeEditError when none or several match. */
export function resolveRef(scene: Scene, ref: ObjectRef): ShapeObject {
  const found = scene.objects.filter((o) => o.colour === ref.colour && o.shape === ref.shape && (ref.cell === undefined || o.cell === ref.cell));
  const name = describeRef(ref);
  if (found.length === 0) throw new ShapeEditError(`there is no ${name}`);
  if (found.length > 1) throw new ShapeEditError(`'the ${name}' is ambiguous (${found.length} match)`);
  return found[0];
}

/** The shortest unambiguous ref to an object of the scene: colour and shape, plus the cell if needed. */
export function refFor(scene: Scene, object: ShapeObject): ObjectRef {
  const twins = scene.objects.filter((o) => o.colour === object.colour && o.shape === object.shape).length;
  return twins > 1 ? { colour: object.colour, shape: object.shape, cell: object.cell } : { colour: object.colour, shape: object.shape };
}

const stepSize = (s: SizeName, change: 'larger' | 'smaller'): SizeName | undefined => SIZES[SIZES.indexOf(s) + (change === 'larger' ? 1 : -1)];

function requireVisible(colour: ColourName, bg: Background): void {
  if (!isVisibleOn(colour, bg)) throw new ShapeEditError(`a ${colour} object would not stand out on this background`);
}

function requireEmpty(scene: Scene, cell: CellName): void {
  if (!(CELLS as readonly string[]).includes(cell)) throw new ShapeEditError(`unknown cell ${JSON.stringify(cell)}`);
  if (scene.objects.some((o) => o.cell === cell)) throw new ShapeEditError(`the ${cellPhrase(cell)} is not empty`);
}

/**
 * The scene an edit produces (canonical). Throws ShapeEditError when the edit is ambiguous (a ref
 * matching several objects), impossible (no such object, an occupied cell, no larger size, too many
 * or no objects left, an object that would not stand out on the background) or changes nothing.
 */
export function applyEdit(source: Scene, spec: ShapeEditSpec): Scene {
  const scene = canonicalScene(source, 'applyEdit');
  let objects = scene.objects.map((o) => ({ ...o }));
  let background = scene.background;
  const replace = (old: ShapeObject, next: ShapeObject | null) => {
    objects = objects.filter((o) => o.cell !== old.cell);
    if (next) objects.push(next);
  };
  switch (spec.type) {
    case 'recolour': {
      const o = resolveRef(scene, spec.target);
      if (o.colour === spec.colour) throw new ShapeEditError(`the ${describeRef(spec.target)} is already ${spec.colour}`);
      requireVisible(spec.colour, background);
      replace(o, { ...o, colour: spec.colour });
      break;
    }
    case 'remove':
      replace(resolveRef(scene, spec.target), null);
      break;
    case 'add':
      requireEmpty(scene, spec.cell);
      requireVisible(spec.colour, background);
      objects.push({ shape: spec.shape, colour: spec.colour, size: spec.size, cell: spec.cell });
      break;
    case 'move': {
      const o = resolveRef(scene, spec.target);
      requireEmpty(scene, spec.cell);
      replace(o, { ...o, cell: spec.cell });
      break;
    }
    case 'resize': {
      const o = resolveRef(scene, spec.target);
      const size = stepSize(o.size, spec.change);
      if (!size) throw new ShapeEditError(`the ${describeRef(spec.target)} is already ${o.size}`);
      replace(o, { ...o, size });
      break;
    }
    case 'count': {
      const group = objects.filter((o) => o.colour === spec.colour && o.shape === spec.shape);
      if (group.length === 0) throw new ShapeEditError(`there is no ${spec.colour} ${spec.shape}`);
      if (!Number.isSafeInteger(spec.amount) || spec.amount < 1) throw new ShapeEditError(`a count change needs a positive integer amount, got ${spec.amount}`);
      if (group.some((o) => o.size !== group[0].size)) throw new ShapeEditError(`the ${spec.colour} ${spec.shape}s differ in size: a copy would be ambiguous`);
      if (spec.change === 'add') {
        const empty = CELLS.filter((c) => !objects.some((o) => o.cell === c));
        for (const cell of empty.slice(0, spec.amount)) objects.push({ ...group[0], cell });
        if (empty.length < spec.amount) throw new ShapeEditError(`no room for ${spec.amount} more`);
      } else {
        if (spec.amount >= group.length) throw new ShapeEditError(`cannot remove ${spec.amount} of ${group.length} ${spec.colour} ${spec.shape}s and keep one`);
        for (const o of group.slice(group.length - spec.amount)) replace(o, null);
      }
      break;
    }
    case 'background': {
      background = checkBackground(spec.background, 'applyEdit');
      if (JSON.stringify(background) === JSON.stringify(scene.background)) throw new ShapeEditError('the background is already that');
      for (const o of objects) requireVisible(o.colour, background);
      break;
    }
    default:
      throw new ShapeEditError(`unknown edit type ${JSON.stringify((spec as { type: unknown }).type)}`);
  }
  if (objects.length === 0 || objects.length > MAX_OBJECTS) throw new ShapeEditError(`the result would hold ${objects.length} objects (1..${MAX_OBJECTS} allowed)`);
  return canonicalScene({ background, objects }, 'applyEdit');
}

/** applyEdit, or null when the edit is not valid on the scene. */
export function tryApplyEdit(source: Scene, spec: ShapeEditSpec): Scene | null {
  try {
    return applyEdit(source, spec);
  } catch (e) {
    if (e instanceof ShapeEditError) return null;
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Phrasing

const NUMBER_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
const num = (n: number) => NUMBER_WORDS[n] ?? String(n);
const plural = (shape: ShapeName, n: number) => (n === 1 ? shape : `${shape}s`);

/** "top left", "centre", … */
export function cellPhrase(cell: CellName): string {
  return cell.replace('-', ' ');
}

/** "red circle", or "red circle in the top left" when the ref carries a cell. */
export function describeRef(ref: ObjectRef): string {
  return `${ref.colour} ${ref.shape}${ref.cell ? ` in the ${cellPhrase(ref.cell)}` : ''}`;
}

/** "white", or "a gradient from gray at the top to black at the bottom". */
export function describeBackground(b: Background): string {
  if (b.kind === 'plain') return b.colour;
  const [at, end] = b.direction === 'vertical' ? ['at the top', 'at the bottom'] : ['on the left', 'on the right'];
  return `a gradient from ${b.from} ${at} to ${b.to} ${end}`;
}

type Phrase<S> = (s: S) => string;
type SpecOf<T extends EditType> = Extract<ShapeEditSpec, { type: T }>;

// Phrasings per type; a template index picks one (modulo the count), and negatives reuse the index,
// so a negative differs from its positive in the changed attribute's words only.
const PHRASINGS: { [T in EditType]: Phrase<SpecOf<T>>[] } = {
  recolour: [
    (s) => `make the ${describeRef(s.target)} ${s.colour}`,
    (s) => `turn the ${describeRef(s.target)} ${s.colour}`,
    (s) => `change the colour of the ${describeRef(s.target)} to ${s.colour}`,
    (s) => `paint the ${describeRef(s.target)} ${s.colour}`,
    (s) => `recolour the ${describeRef(s.target)} ${s.colour}`,
  ],
  remove: [
    (s) => `remove the ${describeRef(s.target)}`,
    (s) => `delete the ${describeRef(s.target)}`,
    (s) => `take away the ${describeRef(s.target)}`,
    (s) => `get rid of the ${describeRef(s.target)}`,
    (s) => `erase the ${describeRef(s.target)}`,
  ],
  add: [
    (s) => `add a ${s.size} ${s.colour} ${s.shape} in the ${cellPhrase(s.cell)}`,
    (s) => `put a ${s.size} ${s.colour} ${s.shape} in the ${cellPhrase(s.cell)}`,
    (s) => `draw a ${s.size} ${s.colour} ${s.shape} in the ${cellPhrase(s.cell)}`,
    (s) => `place a ${s.size} ${s.colour} ${s.shape} in the ${cellPhrase(s.cell)}`,
    (s) => `in the ${cellPhrase(s.cell)}, add a ${s.size} ${s.colour} ${s.shape}`,
  ],
  move: [
    (s) => `move the ${describeRef(s.target)} to the ${cellPhrase(s.cell)}`,
    (s) => `shift the ${describeRef(s.target)} to the ${cellPhrase(s.cell)}`,
    (s) => `put the ${describeRef(s.target)} in the ${cellPhrase(s.cell)} instead`,
    (s) => `relocate the ${describeRef(s.target)} to the ${cellPhrase(s.cell)}`,
    (s) => `drag the ${describeRef(s.target)} to the ${cellPhrase(s.cell)}`,
  ],
  resize: [
    (s) => `make the ${describeRef(s.target)} ${s.change}`,
    (s) => `make the ${describeRef(s.target)} ${s.change === 'larger' ? 'bigger' : 'smaller'}`,
    (s) => `${s.change === 'larger' ? 'enlarge' : 'shrink'} the ${describeRef(s.target)}`,
    (s) => `${s.change === 'larger' ? 'increase' : 'decrease'} the size of the ${describeRef(s.target)}`,
    (s) => `scale the ${describeRef(s.target)} ${s.change === 'larger' ? 'up' : 'down'}`,
  ],
  count: [
    (s) => (s.change === 'add' ? `add ${s.amount === 1 ? 'another' : `${num(s.amount)} more`} ${s.colour} ${plural(s.shape, s.amount)}` : `remove ${num(s.amount)} of the ${s.colour} ${s.shape}s`),
    (s) => `${s.change === 'add' ? 'increase' : 'reduce'} the number of ${s.colour} ${s.shape}s by ${num(s.amount)}`,
    (s) => `${s.change === 'add' ? 'add' : 'take away'} ${num(s.amount)} ${s.colour} ${plural(s.shape, s.amount)}`,
  ],
  background: [
    (s) => `change the background to ${describeBackground(s.background)}`,
    (s) => `make the background ${describeBackground(s.background)}`,
    (s) => `set the background to ${describeBackground(s.background)}`,
    (s) => `replace the background with ${describeBackground(s.background)}`,
    (s) => `paint the background ${describeBackground(s.background)}`,
  ],
};

/** Number of phrasings of an edit type (template indices are taken modulo it). */
export function phrasingCount(type: EditType): number {
  const list = PHRASINGS[type];
  if (!list) throw new RangeError(`phrasingCount: unknown edit type ${JSON.stringify(type)}`);
  return list.length;
}

/** The instruction for an edit in phrasing `template` (taken modulo the number of phrasings). */
export function describeEdit(spec: ShapeEditSpec, template = 0): string {
  const list = PHRASINGS[spec.type] as Phrase<ShapeEditSpec>[] | undefined;
  if (!list) throw new RangeError(`describeEdit: unknown edit type ${JSON.stringify(spec.type)}`);
  if (!Number.isSafeInteger(template) || template < 0) throw new RangeError(`describeEdit: template must be a non-negative integer, got ${template}`);
  return list[template % list.length](spec);
}

// ---------------------------------------------------------------------------------------------
// Candidates and negatives

/** Every valid edit of one type on a scene (refs as short as unambiguity allows). */
export function candidateEdits(scene: Scene, type: EditType): ShapeEditSpec[] {
  const s = canonicalScene(scene, 'candidateEdits');
  const empty = CELLS.filter((c) => !s.objects.some((o) => o.cell === c));
  const specs: ShapeEditSpec[] = [];
  for (const o of s.objects) {
    const target = refFor(s, o);
    if (type === 'recolour') for (const colour of COLOUR_NAMES) specs.push({ type, target, colour });
    if (type === 'remove') specs.push({ type, target });
    if (type === 'move') for (const cell of empty) specs.push({ type, target, cell });
    if (type === 'resize') for (const change of ['larger', 'smaller'] as const) specs.push({ type, target, change });
  }
  if (type === 'add') {
    for (const cell of empty) for (const shape of SHAPES) for (const colour of COLOUR_NAMES) for (const size of SIZES) specs.push({ type, shape, colour, size, cell });
  }
  if (type === 'count') {
    const groups = new Map<string, ShapeObject>();
    for (const o of s.objects) groups.set(`${o.colour} ${o.shape}`, o);
    for (const o of groups.values()) {
      for (const change of ['add', 'remove'] as const) for (let amount = 1; amount < MAX_OBJECTS; amount++) specs.push({ type, colour: o.colour, shape: o.shape, change, amount });
    }
  }
  if (type === 'background') for (const background of allBackgrounds()) specs.push({ type, background });
  return specs.filter((spec) => tryApplyEdit(s, spec) !== null);
}

/** Specs that differ from `spec` in one field, tagged with the attribute that field is. */
function oneFieldVariants(spec: ShapeEditSpec): { attribute: EditAttribute; spec: ShapeEditSpec }[] {
  const out: { attribute: EditAttribute; spec: ShapeEditSpec }[] = [];
  const push = (attribute: EditAttribute, variant: ShapeEditSpec) => out.push({ attribute, spec: variant });
  if ('target' in spec) {
    const t = spec.target;
    // A ref without a cell can name another object by colour or shape; a ref with one (the object
    // has a twin) only by another cell — changing its colour or shape would need a second change.
    if (t.cell === undefined) {
      for (const colour of COLOUR_NAMES) if (colour !== t.colour) push('colour', { ...spec, target: { colour, shape: t.shape } });
      for (const shape of SHAPES) if (shape !== t.shape) push('shape', { ...spec, target: { colour: t.colour, shape } });
    } else {
      for (const cell of CELLS) if (cell !== t.cell) push('position', { ...spec, target: { ...t, cell } });
    }
  }
  switch (spec.type) {
    case 'recolour':
      for (const colour of COLOUR_NAMES) if (colour !== spec.colour) push('colour', { ...spec, colour });
      break;
    case 'move':
      for (const cell of CELLS) if (cell !== spec.cell) push('position', { ...spec, cell });
      break;
    case 'resize':
      push('action', { ...spec, change: spec.change === 'larger' ? 'smaller' : 'larger' });
      break;
    case 'add':
      for (const colour of COLOUR_NAMES) if (colour !== spec.colour) push('colour', { ...spec, colour });
      for (const shape of SHAPES) if (shape !== spec.shape) push('shape', { ...spec, shape });
      for (const size of SIZES) if (size !== spec.size) push('size', { ...spec, size });
      for (const cell of CELLS) if (cell !== spec.cell) push('position', { ...spec, cell });
      break;
    case 'count':
      for (const colour of COLOUR_NAMES) if (colour !== spec.colour) push('colour', { ...spec, colour });
      for (const shape of SHAPES) if (shape !== spec.shape) push('shape', { ...spec, shape });
      for (let amount = 1; amount < MAX_OBJECTS; amount++) if (amount !== spec.amount) push('count', { ...spec, amount });
      push('action', { ...spec, change: spec.change === 'add' ? 'remove' : 'add' });
      break;
    case 'background': {
      const b = spec.background;
      if (b.kind === 'plain') {
        for (const colour of BACKGROUND_COLOUR_NAMES) if (colour !== b.colour) push('colour', { ...spec, background: { ...b, colour } });
      } else {
        for (const from of BACKGROUND_COLOUR_NAMES) if (from !== b.from && from !== b.to) push('colour', { ...spec, background: { ...b, from } });
        for (const to of BACKGROUND_COLOUR_NAMES) if (to !== b.to && to !== b.from) push('colour', { ...spec, background: { ...b, to } });
        push('position', { ...spec, background: { ...b, direction: b.direction === 'vertical' ? 'horizontal' : 'vertical' } });
      }
      break;
    }
  }
  return out;
}

/**
 * All negatives of an edit on its source scene: specs that differ from `spec` in exactly one
 * attribute (one field), apply validly to `source`, and give a target other than the positive's,
 * phrased with the same template. Order is fixed (by attribute, then field value).
 */
export function allNegatives(source: Scene, spec: ShapeEditSpec, template = 0): NegativeShapeEdit[] {
  const positive = sceneKey(applyEdit(source, spec));
  const instruction = describeEdit(spec, template);
  const seen = new Set([instruction]);
  const out: NegativeShapeEdit[] = [];
  for (const v of oneFieldVariants(spec)) {
    const target = tryApplyEdit(source, v.spec);
    if (!target || sceneKey(target) === positive) continue;
    const text = describeEdit(v.spec, template);
    if (seen.has(text)) continue;
    seen.add(text);
    out.push({ ...v, text });
  }
  return out;
}
