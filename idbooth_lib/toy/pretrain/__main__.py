"""``python -m idbooth_lib.toy.pretrain``: see the package docstring."""

from idbooth_lib.toy.pretrain import main

main()
