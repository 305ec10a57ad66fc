// Which pods the agent reports on.
//
//  - deny list (default kube-system, kube-public, kube-node-lease) plus the agent's own
//    namespace: never, whatever else is configured;
//  - allow list: when non-empty, only these namespaces;
//  - label-selected mode: when a namespace label selector is set, only namespaces carrying
//    it — followed live through a supervised watch of namespaces with that selector;
//  - the opt-out annotation (default kernel-gossip.io/ignore: "true") on a pod.
// The three namespace rules combine (all must let a namespace through). `configure()`
// applies new settings live; `onChange` fires when the set of namespaces in scope may have
// changed, so the owner can rescan the pods it knows.
import type { V1Namespace, V1NamespaceList } from "@kubernetes/client-node";
import type { Clock } from "../../shared/clock.ts";
import type { KubeHttp } from "../../shared/kube-http.ts";
import type { Logger } from "../../shared/log.ts";
import { SupervisedWatch } from "../../shared/supervised-watch.ts";
import type { PodFacts } from "./facts.ts";

export interface ScopeSettings {
  allow: readonly string[];
  deny: readonly string[];
  /** Label selector of namespaces to watch ("" = not label-selected). */
  labelSelector: string;
}

export interface NamespaceScopeOptions {
  /** The agent's own namespace; always denied. */
  ownNamespace: string;
  optOutAnnotation: string;
  settings: ScopeSettings;
  /** Needed only in label-selected mode. */
  kube?: KubeHttp;
  clock: Clock;
  log: Logger;
  staleAfterMs: number;
  onChange?: () => void;
}

export class NamespaceScope {
  #o: NamespaceScopeOptions;
  #allow = new Set<string>();
  #deny = new Set<string>();
  #selector = "";
  #labelled = new Set<string>();
  #watch: SupervisedWatch<V1Namespace> | undefined;
  #started = false;

  constructor(options: NamespaceScopeOptions) {
    this.#o = options;
    this.#apply(options.settings);
  }

  /** Starts the namespace watch when label-selected. */
  start(): void {
    this.#started = true;
    this.#watch?.start();
  }

  stop(): void {
    this.#started = false;
    this.#watch?.stop();
  }

  /** False while label-selected and the first namespace list has not arrived. */
  ready(): boolean {
    return this.#watch === undefined || this.#watch.listed;
  }

  configure(settings: ScopeSettings): void {
    this.#apply(settings);
    this.#o.onChange?.();
  }

  includesNamespace(namespace: string): boolean {
    if (this.#deny.has(namespace)) return false;
    if (this.#allow.size > 0 && !this.#allow.has(namespace)) return false;
    if (this.#selector !== "" && !this.#labelled.has(namespace)) return false;
    return true;
  }

  includes(pod: PodFacts): boolean {
    if (pod.annotations[this.#o.optOutAnnotation] === "true") return false;
    return this.includesNamespace(pod.namespace);
  }

  #apply(settings: ScopeSettings): void {
    this.#allow = new Set(settings.allow.filter((n) => n !== ""));
    this.#deny = new Set([...settings.deny.filter((n) => n !== ""), this.#o.ownNamespace]);
    const selector = settings.labelSelector.trim();
    if (selector === this.#selector) return;
    this.#selector = selector;
    this.#watch?.stop();
    this.#watch = undefined;
    this.#labelled = new Set();
    if (selector === "") return;
    const kube = this.#o.kube;
    if (!kube) throw new Error("namespace label selector needs a kube client (kube)");
    const name = (ns: V1Namespace) => ns.metadata?.name ?? "";
    this.#watch = new SupervisedWatch<V1Namespace>({
      watcher: kube,
      clock: this.#o.clock,
      log: this.#o.log.child({ component: "namespace-watch" }),
      what: `namespaces matching ${selector}`,
      list: (resourceVersion) =>
        kube.get<V1NamespaceList>("/api/v1/namespaces", { labelSelector: selector, resourceVersion }),
      watchPath: "/api/v1/namespaces",
      watchQuery: { labelSelector: selector },
      staleAfterMs: this.#o.staleAfterMs,
      onList: (items) => {
        this.#labelled = new Set(items.map(name));
        this.#o.onChange?.();
      },
      onUpsert: (ns) => {
        if (this.#labelled.has(name(ns))) return;
        this.#labelled.add(name(ns));
        this.#o.onChange?.();
      },
      onDelete: (ns) => {
        // A label removed from a namespace arrives as DELETED on a label-selected watch.
        if (this.#labelled.delete(name(ns))) this.#o.onChange?.();
      },
    });
    if (this.#started) this.#watch.start();
  }
}
