using Engine.RL;
using NUnit.Framework;

namespace Engine.Tests;

public class PpoMathTests
{
    [Test]
    public void KlPenaltyOnEveryTokenAndTheScoreOnTheLastUnmasked()
    {
        // Two rows of 4; row 0 response at t = 1, 2 (t = 3 padding), row 1 at t = 0..3.
        // β = 0.5: r = −0.5·kl on response tokens; the score joins the last response token.
        float[] kl = [9, 0.2f, 0.4f, 9, 0.1f, 0.1f, 0.1f, 0.2f], mask = [0, 1, 1, 0, 1, 1, 1, 1];
        var r = PpoMath.RewardsWithKl([1f, -2f], kl, mask, 2, 4, 0.5f);
        Assert.That(r, Is.EqualTo(new[] { 0f, -0.1f, -0.2f + 1f, 0f, -0.05f, -0.05f, -0.05f, -0.1f - 2f }).Within(1e-6f));
    }

    [Test]
    public void ValueLossClipping()
    {
        // c = 0.2, weights 1 (sum-style), returns R = 1:
        //  V = 0.5, old = 0.4: v_clip = 0.5 (inside); (V − R)² = .25 on both → loss .125, grad V − R = −.5
        //  V = 1.0, old = 0.0: v_clip = 0.2; (V − R)² = 0 < (0.2 − 1)² = .64 → clipped: loss .32, grad 0 (clamp saturated)
        //  V = 2.0, old = 1.9: v_clip = 2.0; (1)² both → loss .5, grad 1
        float[] v = [0.5f, 1f, 2f], old = [0.4f, 0f, 1.9f], ret = [1, 1, 1], w = [1, 1, 1], m = [1, 1, 1];
        var (loss, grad, clipFrac) = PpoMath.ValueLoss(v, old, ret, w, m, 0.2f);
        Assert.That(loss, Is.EqualTo(0.125f + 0.32f + 0.5f).Within(1e-6f));
        Assert.That(grad, Is.EqualTo(new[] { -0.5f, 0f, 1f }).Within(1e-6f));
        Assert.That(clipFrac, Is.EqualTo(1f / 3).Within(1e-6f));
    }

    [Test]
    public void CriticGaeEndToEndOnASequenceWithPadding()
    {
        // Prompt at t = 0 (mask 0), response t = 1..2, padding t = 3. score 1 at t = 2, KL 0, γ = 1, λ = 0.9, V = [.3, .5, .8, .1].
        //  t=3 pad: A = 0, R = .1;  t=2: δ = 1 + 0 − .8 = .2 → A = .2, next = .8, last = .2
        //  t=1: δ = 0 + .8 − .5 = .3; gae = .3 + .9·.2 = .48 → A = .48;  t=0 prompt: A = last = .48 (unused)
        float[] mask = [0, 1, 1, 0];
        var rewards = PpoMath.RewardsWithKl([1f], new float[4], mask, 1, 4, 0.1f);
        var (adv, ret) = RlMath.Gae(Engine.Tests.GradCheck.Cpu, rewards, [.3f, .5f, .8f, .1f], mask, 1, 4, 1f, 0.9f);
        Assert.That(adv, Is.EqualTo(new[] { .48f, .48f, .2f, 0f }).Within(1e-6f));
        Assert.That(ret[1..3], Is.EqualTo(new[] { .98f, 1f }).Within(1e-6f));
        Assert.That(PpoMath.ExplainedVariance([.98f, 1f], [.98f, 1f], [1, 1]), Is.EqualTo(1f));
    }

    [Test]
    public void AucCountsCorrectAboveWrongWithTiesHalf()
    {
        // correct: scores 3, 1; wrong: 2, 1, 0 → pairs (3>2, 3>1, 3>0, 1<2, 1=1, 1>0) = (1+1+1+0+.5+1)/6.
        Assert.That(PpoMath.Auc([3, 2, 1, 1, 0], [1, 0, 1, 0, 0]), Is.EqualTo(4.5f / 6).Within(1e-6f));
        Assert.That(PpoMath.Auc([1, 2], [1, 1]), Is.NaN);
    }

    [Test]
    public void BradleyTerryLossGradientsAndAccuracy()
    {
        // d = r_c − r_r = [2, 0, −1]: −log σ(d) = [.126928, .693147, 1.313262] → mean .711112;
        // ∂/∂r_c = −σ(−d)/3 = −[.119203, .5, .731059]/3; accuracy: only d = 2 > 0 → 1/3.
        var (loss, gc, gr, acc) = PpoMath.BradleyTerry([3, 1, 0], [1, 1, 1]);
        Assert.That(loss, Is.EqualTo(.711112f).Within(1e-5f));
        Assert.That(gc, Is.EqualTo(new[] { -.119203f / 3, -.5f / 3, -.731059f / 3 }).Within(1e-6f));
        Assert.That(gr, Is.EqualTo(gc.Select(g => -g).ToArray()).Within(1e-7f));
        Assert.That(acc, Is.EqualTo(1f / 3).Within(1e-6f));
    }

    [Test]
    public void AdaptiveKlMovesTowardTheTarget()
    {
        Assert.That(PpoMath.AdaptiveKl(0.1f, 12f, 6f, 1000), Is.EqualTo(0.1f * (1 + 0.2f * 0.1f)).Within(1e-7f), "KL twice the target: error clipped to +0.2");
        Assert.That(PpoMath.AdaptiveKl(0.1f, 3f, 6f, 1000), Is.EqualTo(0.1f * (1 - 0.2f * 0.1f)).Within(1e-7f));
    }
}
