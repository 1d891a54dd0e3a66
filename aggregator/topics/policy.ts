/**
 * Which topics may come into being (limits.auto_create_topics,
 * limits.max_topics): checked for every topic of a request before any is
 * created, so a refused request leaves nothing behind.
 */
import picomatch from 'picomatch';
import { HttpError } from '../server/http-util.js';
import { topicNameProblem } from '../../lib/config/names.js';

export interface TopicLimits {
  maxTopics: number;
  /** true: any valid name; false: only topics named in the config's `topics` map; list: names or globs */
  autoCreate: boolean | string[];
  /** topics configured by name (always creatable unless over max_topics) */
  configured: (name: string) => boolean;
}

export class TopicPolicy {
  #limits: TopicLimits;
  #allowed: ((s: string) => boolean) | undefined;

  constructor(limits: TopicLimits) {
    this.#limits = limits;
    if (Array.isArray(limits.autoCreate)) this.#allowed = picomatch(limits.autoCreate, { dot: true });
  }

  get maxTopics(): number {
    return this.#limits.maxTopics;
  }

  /**
   * Refuses (HttpError) when `fresh` (names not yet stored, in request order)
   * cannot all be created next to `existing` topics. 403: the data is fine, the
   * operator's limits say no; agents keep it buffered and retry.
   */
  checkCreate(fresh: string[], existing: number, where: (name: string) => string): void {
    for (const name of fresh) {
      const problem = topicNameProblem(name);
      if (problem) throw new HttpError(400, 'bad_request', `${where(name)}: ${problem}`);
      if (!this.#mayCreate(name)) {
        throw new HttpError(403, 'topic_not_allowed', `${where(name)}: topic "${name}" does not exist and limits.auto_create_topics does not allow creating it`);
      }
    }
    if (fresh.length > 0 && existing + fresh.length > this.#limits.maxTopics) {
      throw new HttpError(
        403,
        'topic_not_allowed',
        `${where(fresh[0]!)}: creating ${fresh.length} topic(s) would exceed limits.max_topics (${this.#limits.maxTopics}; ${existing} exist)`,
      );
    }
  }

  #mayCreate(name: string): boolean {
    const a = this.#limits.autoCreate;
    if (a === true) return true;
    if (this.#limits.configured(name)) return true;
    return this.#allowed?.(name) ?? false;
  }
}
