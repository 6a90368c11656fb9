using NUnit.Framework;

namespace Engine.Tests;

/// <summary>The unbiased pass@k estimator (Chen et al. 2021) against hand-worked binomial ratios.</summary>
public class PassAtTests
{
    [TestCase(4, 1, 1, 0.25)]
    [TestCase(4, 1, 2, 0.5)]                 // 1 − C(3,2)/C(4,2) = 1 − 3/6
    [TestCase(4, 1, 4, 1.0)]
    [TestCase(5, 2, 2, 0.7)]                 // 1 − C(3,2)/C(5,2) = 1 − 3/10
    [TestCase(8, 0, 3, 0.0)]
    [TestCase(8, 8, 1, 1.0)]
    public void UnbiasedPassAtK(int n, int c, int k, double expected) =>
        Assert.That(Engine.Tasks.TaskEval.PassAt(n, c, k), Is.EqualTo(expected).Within(1e-12));
}

/// <summary>Best-of-j picks the highest-scored of the first j samples; ties go to the earliest.</summary>
public class BestOfTests
{
    [TestCase(new[] { 0.1f, 0.9f, 0.5f }, 1, 0)]
    [TestCase(new[] { 0.1f, 0.9f, 0.5f }, 2, 1)]
    [TestCase(new[] { 0.1f, 0.9f, 0.95f }, 2, 1)]        // the third is not among the first two
    [TestCase(new[] { 0.1f, 0.9f, 0.95f }, 3, 2)]
    [TestCase(new[] { 0.7f, 0.2f, 0.7f, 0.7f }, 4, 0)]   // ties: the earliest
    [TestCase(new[] { -1f, 3f, 3f }, 3, 1)]
    public void PicksTheHighestScoreEarliestOnTies(float[] scores, int j, int expected) =>
        Assert.That(Engine.Tasks.TaskEval.BestIndex(scores, j), Is.EqualTo(expected));

    [Test]
    public void RefusesMoreThanItHas() =>
        Assert.That(() => Engine.Tasks.TaskEval.BestIndex([1f, 2f], 3), Throws.ArgumentException);
}
