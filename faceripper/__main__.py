"""``python -m faceripper`` runs the command-line interface."""

from faceripper.cli import main

if __name__ == "__main__":
    main()
