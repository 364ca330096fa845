import { describe, expect, it } from 'vitest';
import { RetryBudget } from './budget.js';

describe('RetryBudget', () => {
  it('allows percent of requests plus the reserve within one ttl', () => {
    const budget = new RetryBudget({ percent: 20, minRetriesPerSecond: 1, ttl: 10_000 });
    for (let i = 0; i < 100; i++) budget.deposit(0);
    // 20% of 100 requests + 1/s · 10 s of reserve
    let allowed = 0;
    while (budget.tryWithdraw(0)) allowed++;
    expect(allowed).toBe(30);
  });

  it('refuses every retry beyond the reserve when no request deposits', () => {
    const budget = new RetryBudget({ percent: 20, minRetriesPerSecond: 0, ttl: 1000 });
    expect(budget.tryWithdraw(0)).toBe(false);
    budget.deposit(0);
    expect(budget.tryWithdraw(0)).toBe(false);
    for (let i = 0; i < 4; i++) budget.deposit(0);
    expect(budget.tryWithdraw(0)).toBe(true);
    expect(budget.tryWithdraw(0)).toBe(false);
  });

  it('lets deposits expire after ttl', () => {
    const budget = new RetryBudget({ percent: 50, minRetriesPerSecond: 0, ttl: 1000 });
    for (let i = 0; i < 10; i++) budget.deposit(0);
    expect(budget.available(500)).toBe(5);
    expect(budget.available(1100)).toBe(0);
    expect(budget.tryWithdraw(1100)).toBe(false);
  });

  it('gives spent tokens back once the withdrawal leaves the window', () => {
    const budget = new RetryBudget({ percent: 20, minRetriesPerSecond: 1, ttl: 1000 });
    expect(budget.tryWithdraw(0)).toBe(true);
    expect(budget.tryWithdraw(0)).toBe(false);
    expect(budget.tryWithdraw(1500)).toBe(true);
  });

  it('with percent 0 spends only the reserve', () => {
    const budget = new RetryBudget({ percent: 0, minRetriesPerSecond: 2, ttl: 1000 });
    for (let i = 0; i < 1000; i++) budget.deposit(0);
    expect(budget.available(0)).toBe(2);
  });
});
