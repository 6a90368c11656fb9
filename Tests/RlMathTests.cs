using Engine.Kernels;
using Engine.RL;
using NUnit.Framework;
using static Engine.Tests.GradCheck;

namespace Engine.Tests;

/// <summary>The RL math against values worked by hand (the working is in the comments), per RL_MATH.md.</summary>
public class RlMathTests
{
    static readonly IBackend B = Cpu;

    [Test]
    public void GaeWithMasksInsideAndAtTheEnd()
    {
        // γ = 0.9, λ = 0.8 (γλ = 0.72). Sequence 0: r = [0,0,1,0], V = [.5,.4,.6,.2], mask = [1,0,1,0].
        //  t=3 masked: A = last = 0, R = 0 + .2 = .2 (next, last stay 0)
        //  t=2: δ = 1 + .9·0 − .6 = .4; gae = .4 → A = .4, next = .6, last = .4, R = 1.0
        //  t=1 masked: A = last = .4, R = .4 + .4 = .8 (next, last unchanged)
        //  t=0: δ = 0 + .9·.6 − .5 = .04; gae = .04 + .72·.4 = .328 → A = .328, R = .828
        // Sequence 1: r = [0,2,0,0], V = [1,1,1,1], mask = [1,1,0,0] (padding at the end).
        //  t=3, t=2 masked: A = 0, R = 1
        //  t=1: δ = 2 + 0 − 1 = 1 → A = 1, next = 1, last = 1, R = 2
        //  t=0: δ = 0 + .9·1 − 1 = −.1; gae = −.1 + .72·1 = .62 → A = .62, R = 1.62
        float[] r = [0, 0, 1, 0, 0, 2, 0, 0], v = [.5f, .4f, .6f, .2f, 1, 1, 1, 1], m = [1, 0, 1, 0, 1, 1, 0, 0];
        var (adv, ret) = RlMath.Gae(B, r, v, m, 2, 4, 0.9f, 0.8f);
        Assert.That(adv, Is.EqualTo(new[] { .328f, .4f, .4f, 0, .62f, 1, 0, 0 }).Within(1e-6f));
        Assert.That(ret, Is.EqualTo(new[] { .828f, .8f, 1f, .2f, 1.62f, 2, 1, 1 }).Within(1e-6f));

        // Whitening over the unmasked tokens {.328, .4, .62, 1}: mean .587, unbiased var .091236 →
        // (A − .587)/√(.091236 + 1e-8) = −.857465, .109252, 1.367310 at t=0 (seq 0), t=0 and t=1 (seq 1).
        var (white, ret2) = RlMath.Gae(B, r, v, m, 2, 4, 0.9f, 0.8f, whiten: true);
        Assert.That(new[] { white[0], white[2], white[4], white[5] }, Is.EqualTo(new[] { -.857465f, -.619097f, .109252f, 1.367310f }).Within(1e-5f));
        Assert.That(ret2, Is.EqualTo(ret), "returns come from the raw advantages");
    }

    [Test]
    public void GroupAdvantagesOfEachEstimator()
    {
        // Groups of 3: [1, 0, 0] and [2, 2, 2] (all equal).
        // Group 1: mean 1/3; deviations 2/3, −1/3, −1/3; unbiased var (4/9 + 1/9 + 1/9)/2 = 1/3; std .577350.
        float[] s = [1, 0, 0, 2, 2, 2];
        Assert.That(RlMath.GroupAdvantages(B, s, 3, AdvantageEstimator.Grpo),
            Is.EqualTo(new[] { 1.154700f, -.577350f, -.577350f, 0, 0, 0 }).Within(1e-5f), "(s − mean)/(std + 1e-6); equal scores give 0");
        Assert.That(RlMath.GroupAdvantages(B, s, 3, AdvantageEstimator.DrGrpo),
            Is.EqualTo(new[] { 2 / 3f, -1 / 3f, -1 / 3f, 0, 0, 0 }).Within(1e-6f), "s − mean");
        // RLOO: (G·s − Σs)/(G − 1) = (3 − 1)/2 = 1, (0 − 1)/2 = −.5; (6 − 6)/2 = 0.
        Assert.That(RlMath.GroupAdvantages(B, s, 3, AdvantageEstimator.Rloo),
            Is.EqualTo(new[] { 1f, -.5f, -.5f, 0, 0, 0 }).Within(1e-6f));
        // REINFORCE++-baseline: s − mean = [2/3, −1/3, −1/3, 0, 0, 0], then whitened over the batch:
        // mean 0, unbiased var (6/9)/5 = .133333, std .365148 → 1.825742, −.912871, 0.
        Assert.That(RlMath.GroupAdvantages(B, s, 3, AdvantageEstimator.ReinforcePlusPlusBaseline),
            Is.EqualTo(new[] { 1.825742f, -.912871f, -.912871f, 0, 0, 0 }).Within(1e-5f));
        // Groups of one: mean 0, std 1 (verl) → GRPO 3/(1 + 1e-6); Dr. GRPO and RLOO keep the score.
        Assert.That(RlMath.GroupAdvantages(B, [3, -1], 1, AdvantageEstimator.Grpo), Is.EqualTo(new[] { 2.999997f, -.999999f }).Within(1e-6f));
        Assert.That(RlMath.GroupAdvantages(B, [3, -1], 1, AdvantageEstimator.DrGrpo), Is.EqualTo(new[] { 3f, -1f }));
        Assert.That(RlMath.GroupAdvantages(B, [3, -1], 1, AdvantageEstimator.Rloo), Is.EqualTo(new[] { 3f, -1f }));
        // Batch std (TRL scale_rewards="batch"): (s − group mean)/(std of all six scores + ε).
        // Scores [1,0,0,2,2,2]: mean 7/6, unbiased var (1/36 + 49/36·2 + 25/36·3)/5 = 174/180 = .966667, std .983192.
        Assert.That(RlMath.GroupAdvantages(B, s, 3, AdvantageEstimator.Grpo, 1e-6f, StdScope.Batch)[0], Is.EqualTo(.678059f).Within(1e-5f));
    }

    [Test]
    public void EachLossAggregation()
    {
        // loss [[1,2,3],[4,5,6]], mask [[1,1,0],[1,0,0]]
        float[] l = [1, 2, 3, 4, 5, 6], m = [1, 1, 0, 1, 0, 0];
        Assert.That(RlMath.Aggregate(l, m, 2, 3, LossAggregation.TokenMean), Is.EqualTo(7f / 3).Within(1e-6f), "(1 + 2 + 4)/3");
        Assert.That(RlMath.Aggregate(l, m, 2, 3, LossAggregation.SeqMeanTokenMean), Is.EqualTo(2.75f).Within(1e-6f), "mean(1.5, 4)");
        Assert.That(RlMath.Aggregate(l, m, 2, 3, LossAggregation.SeqMeanTokenSum), Is.EqualTo(3.5f).Within(1e-6f), "mean(3, 4)");
        Assert.That(RlMath.Aggregate(l, m, 2, 3, LossAggregation.SeqMeanTokenSumNorm, maxResponseLength: 4), Is.EqualTo(.875f).Within(1e-6f), "(3 + 4)/(2·4)");
    }

    [Test]
    public void ClippedSurrogateCasesAndDualClip()
    {
        // Six single-token rows, ε = 0.2, dual clip c = 3:
        //  A=−1, ratio 5:   pg1 = 5, pg2 = 1.2 → 5; dual clip min(5, −A·c = 3) = 3, gradient 0
        //  A=−1, ratio 2:   pg1 = 2 > pg2 = 1.2 → 2 (< 3, dual clip idle); gradient −A·ratio = 2
        //  A=+1, ratio 1.5: pg1 = −1.5 < pg2 = −1.2 → −1.2, clipped, gradient 0
        //  A=+1, ratio .5:  pg1 = −.5 > pg2 = −.8 → −.5, gradient −.5
        //  A=+2, ratio 1.1: inside the range, pg1 = pg2 = −2.2, gradient −2.2
        //  A=+1, ratio 1.25 with ε_high = .28 is checked below.
        float[] a = [-1, -1, 1, 1, 2], ratio = [5, 2, 1.5f, .5f, 1.1f];
        float[] logp = ratio.Select(x => MathF.Log(x)).ToArray(), old = new float[5], m = [1, 1, 1, 1, 1];
        var o = new PolicyLossOptions(DualClip: 3f, Aggregation: LossAggregation.SeqMeanTokenSum);
        var res = RlMath.PolicyLoss(B, logp, old, a, m, 5, 1, o);
        Assert.That(res.Loss, Is.EqualTo((3 + 2 - 1.2f - .5f - 2.2f) / 5).Within(1e-5f));
        Assert.That(res.GradLogp, Is.EqualTo(new[] { 0f, 2f, 0f, -.5f, -2.2f }.Select(g => g / 5).ToArray()).Within(1e-5f));
        Assert.That(res.ClipFraction, Is.EqualTo(1f / 5).Within(1e-6f), "only A=+1, ratio 1.5 has pg2 > pg1");
        // approx-KL: mean of (r − 1) − ln r: (4 − ln5) + (1 − ln2) + (.5 − ln1.5) + (−.5 − ln.5) + (.1 − ln1.1)
        double akl = ratio.Select(x => (x - 1) - Math.Log(x)).Average();
        Assert.That(res.ApproxKl, Is.EqualTo(akl).Within(1e-5));
        // Clip-higher: ratio 1.25 is inside [0.8, 1.28], so A=+1 keeps the gradient −1.25; symmetric ε clips it.
        var high = RlMath.PolicyLoss(B, [MathF.Log(1.25f)], [0], [1], [1], 1, 1, new PolicyLossOptions(ClipHigh: .28f));
        Assert.That(high.GradLogp[0], Is.EqualTo(-1.25f).Within(1e-5f));
        Assert.That(RlMath.PolicyLoss(B, [MathF.Log(1.25f)], [0], [1], [1], 1, 1, new PolicyLossOptions()).GradLogp[0], Is.EqualTo(0f));
    }

    [Test]
    public void KlEstimatorsAndTheK3Clamps()
    {
        // logp = −1, ref = −1.5 (x = ref − logp = −.5): k1 = .5 (grad 1); k2 = ½·.25 = .125 (grad .5);
        // k3 = e^−.5 + .5 − 1 = .106531, grad 1 − e^−.5 = .393469.
        var (k1, g1) = RlMath.KlWithGrad(B, [-1], [-1.5f], KlEstimator.K1);
        var (k2, g2) = RlMath.KlWithGrad(B, [-1], [-1.5f], KlEstimator.K2);
        var (k3, g3) = RlMath.KlWithGrad(B, [-1], [-1.5f], KlEstimator.K3);
        Assert.That((k1[0], g1[0], k2[0], g2[0]), Is.EqualTo((.5f, 1f, .125f, .5f)));
        Assert.That(k3[0], Is.EqualTo(.106531f).Within(1e-6f));
        Assert.That(g3[0], Is.EqualTo(.393469f).Within(1e-6f));
        // Extremes: x = 30 clamps to 20, e^20 − 21 clamps to 10; x = −30 → −20, e^−20 + 19 clamps to 10; both have gradient 0.
        var (ke, ge) = RlMath.KlWithGrad(B, [0, 30, -5], [30, 0, -5], KlEstimator.K3);
        Assert.That(ke, Is.EqualTo(new[] { 10f, 10f, 0f }));
        Assert.That(ge, Is.EqualTo(new[] { 0f, 0f, 0f }));
    }

    [Test]
    public void EntropyOfUniformAndOneHot()
    {
        // Uniform over 4: ln 4; a near one-hot row: ≈ 0; temperature 2 flattens [0, 2 ln 3] to ratio 1:3 → H = −(¼ ln ¼ + ¾ ln ¾).
        var h = RlMath.Entropy(B, [0, 0, 0, 0, 100, 0, 0, 0], 2, 4);
        Assert.That(h[0], Is.EqualTo(MathF.Log(4)).Within(1e-6f));
        Assert.That(h[1], Is.EqualTo(0f).Within(1e-6f));
        var t = RlMath.Entropy(B, [0, 2 * MathF.Log(3)], 1, 2, temperature: 2f);
        Assert.That(t[0], Is.EqualTo(-(0.25 * Math.Log(0.25) + 0.75 * Math.Log(0.75))).Within(1e-6));
    }

    [Test]
    public void BadInputNamesTheParameter()
    {
        void Throws(TestDelegate call, string param)
        {
            var ex = Assert.Throws(Is.InstanceOf<ArgumentException>(), call);
            Assert.That(ex!.Message, Does.Contain(param), ex.Message);
        }
        Throws(() => RlMath.Gae(B, [1, 2], [1, 2, 3], [1, 1], 1, 2, .9f, .9f), "values");
        Throws(() => RlMath.Gae(B, [1, 2, 3], [1, 2, 3], [1, 1, 1], 2, 2, .9f, .9f), "rewards");
        Throws(() => RlMath.GroupAdvantages(B, [1, 2, 3, 4, 5], 2, AdvantageEstimator.Grpo), "groupSize");
        Throws(() => RlMath.PolicyLoss(B, [0], [0], [1], [1], 1, 1, new PolicyLossOptions(ClipHigh: -0.1f)), "ClipHigh");
        Throws(() => RlMath.PolicyLoss(B, [0, 0], [0], [1, 1], [1, 1], 1, 2, new PolicyLossOptions()), "oldLogp");
        Throws(() => RlMath.Kl(B, [0, 1], [0], KlEstimator.K3), "refLogp");
        Throws(() => RlMath.Entropy(B, [], 0, 0), "vocab");
        var logits = B.Allocate(0);
        Throws(() => FusedPolicy.Run(B, logits, logits, [], [], [], [], null, 0, 0, 0, new FusedLossOptions()), "vocab");
    }
}
