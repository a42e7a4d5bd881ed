"""The lessons on gradients: sigmoid's vanishes in a deep network, step's is exactly zero,
and a ReLU unit that is never active gets none (dead units)."""

from __future__ import annotations

import math

import numpy as np

from pipeline.lessons import verdicts as v
from pipeline.lessons.base import ACCURACY, COURSE, EPOCHS, run_ids
from pipeline.lessons.measure import NEVER_ACTIVE, NEVER_ACTIVE_PROBE
from pipeline.lessons.runner import Runner, Trials
from pipeline.lessons.table import Row, mean_ci

RELU_LEARNS = 0.9  # the vanishing-gradient lesson's bar for "ReLU trains" (MNIST)


# ----------------------------------------------------------- vanishing gradient
def vanishing_gradient(run: Runner) -> list[Row]:
    """Sigmoid's gradient vanishes in a deep MLP, ReLU's does not, and so ReLU trains."""
    course = f'{COURSE} §"기울기 소실 문제(Vanishing Gradient)"'
    preset = ["+experiment=vanishing_gradient"]
    naive = "model.kernel_initializer=random_normal"
    he = {a: run.run(a, [*preset, f"activation={a}"]) for a in ("relu", "sigmoid")}
    nv = {
        a: run.run(f"{a}, naive init", [*preset, f"activation={a}", naive])
        for a in ("relu", "sigmoid")
    }
    layers = he["relu"].columns(r"grad_norm/hidden_\d+")
    first, last = layers[0], layers[-1]

    def ratios(t: Trials) -> v.Measured:  # log10(first hidden layer's norm / last's)
        return t.measured(
            math.log10(max(a, 1e-30) / max(b, 1e-30))
            for a, b in zip(t.final(first), t.final(last), strict=True)
        )

    def norms(t: Trials) -> str:  # each hidden layer's, input side first, mean over seeds
        return ", ".join(f"{float(np.mean(t.final(c))):.2g}" for c in layers)

    measured = "; ".join(
        f"{k}: {norms(t)} (log10 ratio {mean_ci(ratios(t))})"
        for k, t in {**he, **{f"{k} (naive)": t for k, t in nv.items()}}.items()
    )
    he_norms = "; ".join(f"{k}: {norms(t)}" for k, t in he.items())
    accuracy = "; ".join(
        f"{t.label}: {mean_ci(t.metric(ACCURACY))}" for t in [*he.values(), *nv.values()]
    )
    return [
        Row.judged(
            "Sigmoid's gradient vanishes toward the input of a deep (8-layer) MLP; ReLU's does not",
            course,
            f"gradient norm of hidden layers 1 … {len(layers)} at the last epoch, and "
            f"log10({first} ÷ {last}) — {measured}",
            v.exceeds(
                ratios(he["relu"]),
                ratios(he["sigmoid"]),
                "ReLU",
                "sigmoid",
                f"log10({first} ÷ {last} gradient norm)",
            ),
            run_ids(*he.values(), *nv.values()),
        ),
        Row.judged(
            "So in the same deep MLP ReLU trains and sigmoid does not (MNIST)",
            course,
            f"test accuracy after {EPOCHS} epochs — {accuracy}. Gradient norm of hidden "
            f"layers 1 … {len(layers)} — {he_norms}",
            v.every(
                [
                    v.at_least(he["relu"].metric(ACCURACY), RELU_LEARNS, "ReLU", "test accuracy"),
                    v.exceeds(
                        he["relu"].metric(ACCURACY),
                        he["sigmoid"].metric(ACCURACY),
                        "ReLU",
                        "sigmoid",
                        "test accuracy",
                    ),
                ]
            ),
            run_ids(*he.values()),
        ),
        Row.judged(
            "Initialisation matters too: with naive N(0, 0.05²) weights the same ReLU MLP "
            "learns less than with He's initialisation",
            course,
            f"test accuracy — {accuracy}",
            v.exceeds(
                he["relu"].metric(ACCURACY),
                nv["relu"].metric(ACCURACY),
                "ReLU with He init",
                "ReLU with naive init",
                "test accuracy",
            ),
            run_ids(he["relu"], nv["relu"]),
        ),
    ]


# ------------------------------------------------------------------------- step
def step(run: Runner) -> list[Row]:
    """Step's zero gradient, what it costs, and the straight-through estimator."""
    course = f'{COURSE} §"Step function(계단 함수)"'
    base = ["dataset=fashion_mnist", f"training.epochs={EPOCHS}"]
    relu = run.run("relu", [*base, "activation=relu"])
    hard = run.run("step", [*base, "activation=step"])
    st = run.run(
        "step, straight-through",
        [*base, "activation=step", "activation.straight_through=true"],
    )
    layers = hard.columns(r"grad_norm/hidden_\d+")
    zeros = [x for c in layers for s in hard.series(c) for x in s]
    st_norms = [x for c in layers for s in st.series(c) for x in s]
    accuracy = "; ".join(f"{t.label}: {mean_ci(t.metric(ACCURACY))}" for t in (relu, hard, st))
    return [
        Row.judged(
            "Step cannot be trained by backpropagation: its hidden layers' "
            "gradients are exactly zero",
            course,
            f"hidden layers' gradient norms, every epoch: step max {max(zeros):.3g}; "
            f"straight-through min {min(st_norms):.3g}",
            v.all_equal(zeros, 0.0, "hidden-layer gradient norm of step"),
            hard.run_ids,
        ),
        Row.judged(
            "That costs accuracy against a trainable activation (ReLU)",
            course,
            f"test accuracy after {EPOCHS} epochs — {accuracy}",
            v.exceeds(
                relu.metric(ACCURACY), hard.metric(ACCURACY), "ReLU", "step", "test accuracy"
            ),
            run_ids(relu, hard),
        ),
        Row.judged(
            "The straight-through estimator (identity's gradient) lets step's hidden layers learn",
            course,
            f"test accuracy — {accuracy}",
            v.exceeds(
                st.metric(ACCURACY),
                hard.metric(ACCURACY),
                "straight-through step",
                "step",
                "test accuracy",
            ),
            run_ids(st, hard),
        ),
    ]


# ------------------------------------------------------------------- dead units
DEAD_UNITS_RATE = 0.01  # Adam at 10x its default rate: ReLU units die


def dead_units(run: Runner) -> list[Row]:
    """At a high learning rate ReLU units die; Leaky ReLU and ELU keep them."""
    course = f'{COURSE} §"활성화 함수(Activation)의 종류" (ReLU, Leaky ReLU, ELU)'
    base = [
        "dataset=fashion_mnist",
        f"training.epochs={EPOCHS}",
        f"optimizer.learning_rate={DEAD_UNITS_RATE}",
    ]
    trials = {
        a: run.run(a, [*base, f"activation={a}"], NEVER_ACTIVE_PROBE)
        for a in ("relu", "leaky_relu", "elu")
    }
    never = {a: t.metric(NEVER_ACTIVE) for a, t in trials.items()}
    measured = "; ".join(
        f"{a}: {mean_ci(x)} (test accuracy {mean_ci(trials[a].metric(ACCURACY))})"
        for a, x in never.items()
    )
    return [
        Row.judged(
            f"Leaky ReLU and ELU keep units from dying: at a high learning rate (Adam, "
            f"{DEAD_UNITS_RATE}) fewer of their hidden units never activate than ReLU's",
            course,
            f"fraction of hidden units never positive on the validation split — {measured}",
            v.every(
                [
                    v.exceeds(never["relu"], never[a], "ReLU", a, "never-active fraction")
                    for a in ("leaky_relu", "elu")
                ]
            ),
            run_ids(*trials.values()),
        ),
    ]
