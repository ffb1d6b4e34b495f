// How long the simulated host takes for each step. Real values are environment-dependent
// (docs/design/host-api.md#timings); the profiles let tests run in milliseconds and demos in seconds.

export interface HostDurations {
  refreshMs: number;
  prepareMs: number;
  activateMs: number;
  deactivateMs: number;
  /** From the reboot 204 until the API goes down (systemd stopping services). */
  shutdownMs: number;
  /** After the API goes down, how long its socket file lingers: connects fail with ECONNREFUSED, then ENOENT. */
  socketLingerMs: number;
  /** From the API going down until it answers again after a good boot (firmware, GRUB, boot, migrations). */
  rebootMs: number;
  /** Extra downtime a failed trial boot adds before the machine is up again (boot, panic, kernel.panic=10 s). */
  failedBootMs: number;
}

export const DURATION_PROFILES = {
  /** Order of magnitude of an EC2 host. */
  realistic: {
    refreshMs: 1_000,
    prepareMs: 12_000,
    activateMs: 500,
    deactivateMs: 500,
    shutdownMs: 3_000,
    socketLingerMs: 1_000,
    rebootMs: 60_000,
    failedBootMs: 40_000,
  },
  /** Seconds: a whole update is watchable in a demo. */
  demo: {
    refreshMs: 300,
    prepareMs: 3_000,
    activateMs: 200,
    deactivateMs: 200,
    shutdownMs: 500,
    socketLingerMs: 300,
    rebootMs: 5_000,
    failedBootMs: 4_000,
  },
  /** Milliseconds, for tests. */
  fast: {
    refreshMs: 5,
    prepareMs: 20,
    activateMs: 5,
    deactivateMs: 5,
    shutdownMs: 5,
    socketLingerMs: 10,
    rebootMs: 40,
    failedBootMs: 30,
  },
} as const satisfies Record<string, HostDurations>;

export type DurationProfile = keyof typeof DURATION_PROFILES;

export function resolveDurations(
  profile: DurationProfile = "demo",
  overrides: Partial<HostDurations> = {},
): HostDurations {
  const durations: HostDurations = { ...DURATION_PROFILES[profile] };
  for (const [key, value] of Object.entries(overrides) as [keyof HostDurations, number | undefined][]) {
    if (value === undefined) continue;
    if (!Number.isFinite(value) || value < 0)
      throw new RangeError(`duration ${key} must be a non-negative number, got ${value}`);
    durations[key] = value;
  }
  return durations;
}
