/**
 * A config file parsed with positions: the yaml Document plus a LineCounter.
 * Syntax errors become ConfigIssues with their line and column. Aliases are
 * resolved from one pass over the document (the yaml package's
 * Alias.resolve walks the whole document per alias: quadratic).
 */

import { isAlias, LineCounter, parseDocument, visit, type Alias, type Document, type Node } from 'yaml';
import { ConfigIssue } from '../errors.js';

export interface Position {
  line: number;
  col: number;
}

export class YamlSource {
  readonly file: string;
  readonly text: string;
  readonly doc: Document.Parsed;
  readonly issues: ConfigIssue[] = [];
  #lines: LineCounter;
  #aliases: Map<Alias, Node> | undefined;

  constructor(text: string, file: string) {
    this.file = file;
    this.text = text;
    this.#lines = new LineCounter();
    this.doc = parseDocument(text, { lineCounter: this.#lines, prettyErrors: false, uniqueKeys: true, merge: false });
    for (const err of this.doc.errors) {
      const pos = this.at(err.pos[0]);
      this.issues.push(new ConfigIssue(file, pos.line, pos.col, '', `YAML syntax error: ${err.message}`));
    }
  }

  /** What an alias points at: the last node before it with that anchor (YAML 1.2), or undefined. */
  resolveAlias(alias: Alias): Node | undefined {
    if (!this.#aliases) {
      const aliases = new Map<Alias, Node>();
      const anchors = new Map<string, Node>();
      // visit() goes in document order, so "the last anchor seen" is the one an alias means
      visit(this.doc, {
        Node: (_key, node) => {
          if (isAlias(node)) {
            const target = anchors.get(node.source);
            if (target) aliases.set(node, target);
          } else if (node.anchor) {
            anchors.set(node.anchor, node);
          }
        },
      });
      this.#aliases = aliases;
    }
    return this.#aliases.get(alias);
  }

  /** The root node, or null for an empty document. */
  get root(): Node | null {
    return (this.doc.contents as Node | null) ?? null;
  }

  /** 1-based line and column of a character offset. */
  at(offset: number): Position {
    const p = this.#lines.linePos(Math.max(0, Math.min(offset, this.text.length)));
    return { line: p.line, col: p.col };
  }

  /** Where a node starts (1:1 for a missing node). */
  posOf(node: Node | null | undefined): Position {
    const start = node?.range?.[0];
    return start === undefined ? { line: 1, col: 1 } : this.at(start);
  }

  /** The node's source text. */
  rawOf(node: Node): string {
    const r = node.range;
    return r ? this.text.slice(r[0], r[1]) : '';
  }
}
