from scp_images.cli.main import main

main()
