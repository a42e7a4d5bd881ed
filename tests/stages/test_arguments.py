"""The command line of every per-dataset stage (pipeline.stages.arguments)."""

from pipeline.stages.arguments import dataset_parser


def test_the_dataset_parser_takes_a_dataset_and_a_params_file():
    args = dataset_parser("x").parse_args(["iris"])
    assert (args.dataset, args.params) == ("iris", "params.yaml")
    assert dataset_parser("x").parse_args(["mnist", "--params", "p.yaml"]).params == "p.yaml"
