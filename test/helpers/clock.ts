import type { Clock } from '../../src/clock.js'

export class FakeClock implements Clock {
  constructor(private ms = Date.UTC(2026, 10, 23, 12, 0, 0)) {}
  now(): number {
    return this.ms
  }
  advance(seconds: number): void {
    this.ms += seconds * 1000
  }
}
